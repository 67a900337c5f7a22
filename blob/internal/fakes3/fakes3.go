// Package fakes3 is an in-memory S3 server for tests (no network): path-
// style PutObject, GetObject (with ranges), HeadObject, DeleteObject and
// ListObjectsV2 with prefix, delimiter and continuation tokens. Every
// signed request is checked with SigV4 and its payload against
// X-Amz-Content-Sha256, so a driver that signs something other than what
// it sends is refused as AWS would refuse it.
package fakes3

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/housing-mlops/mlops/blob/internal/sigv4"
)

// Server is an http.Handler faking S3 in Region.
type Server struct {
	Region string
	// Keys maps access key IDs to secret keys.
	Keys map[string]string
	// Anonymous lets unsigned requests in (a public bucket).
	Anonymous bool
	// MaxKeys caps list pages below the client's max-keys, to exercise
	// continuation tokens with few objects; 0 means 1000.
	MaxKeys int

	mu       sync.Mutex
	objects  map[string]*Object // by bucket + "/" + key
	failNext int
	requests []string
}

// Object is a stored object.
type Object struct {
	Data        []byte
	ContentType string
	Meta        map[string]string // x-amz-meta-* headers as sent, lower-case names
	ModTime     time.Time
}

// New returns a server for region accepting the given key pairs.
func New(region string, keys map[string]string) *Server {
	return &Server{Region: region, Keys: keys, objects: map[string]*Object{}}
}

// FailNext makes the next n requests answer 503 SlowDown.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Requests returns "METHOD path?query" of every request received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Object returns the object bucket/key, if stored.
func (s *Server) Object(bucket, key string) (*Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o, ok
}

// ServeHTTP answers one S3 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	if s.fail(r) {
		writeError(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	}
	if code, msg := s.authorize(r, body); code != "" {
		writeError(w, r, http.StatusForbidden, code, msg)
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case bucket == "":
		writeError(w, r, http.StatusBadRequest, "InvalidRequest", "path-style requests only: /bucket/key")
	case key == "" && r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		s.list(w, r, bucket)
	case key == "":
		writeError(w, r, http.StatusNotImplemented, "NotImplemented", "bucket operation "+r.Method)
	case r.Method == http.MethodPut:
		s.put(w, r, bucket+"/"+key, body)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		s.get(w, r, bucket+"/"+key)
	case r.Method == http.MethodDelete:
		s.mu.Lock()
		delete(s.objects, bucket+"/"+key)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
	}
}

// fail logs the request and consumes one injected failure.
func (s *Server) fail(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	if s.failNext > 0 {
		s.failNext--
		return true
	}
	return false
}

// authorize returns S3's error code and message for a request it would
// refuse, "" for one it accepts.
func (s *Server) authorize(r *http.Request, body []byte) (code, msg string) {
	if r.Header.Get("Authorization") == "" {
		if s.Anonymous {
			return "", ""
		}
		return "AccessDenied", "Anonymous access is forbidden for this operation"
	}
	err := sigv4.Verify(r, s.Region, func(id string) (string, bool) {
		secret, ok := s.Keys[id]
		return secret, ok
	})
	if err != nil {
		return "SignatureDoesNotMatch", err.Error()
	}
	sum := sha256.Sum256(body)
	if got := r.Header.Get("X-Amz-Content-Sha256"); got != hex.EncodeToString(sum[:]) {
		return "XAmzContentSHA256Mismatch", "x-amz-content-sha256 " + got + " is not the SHA-256 of the body"
	}
	return "", ""
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	if md := r.Header.Get("Content-MD5"); md != "" {
		sum := md5.Sum(body)
		if md != base64.StdEncoding.EncodeToString(sum[:]) {
			writeError(w, r, http.StatusBadRequest, "BadDigest", "Content-MD5 does not match the body")
			return
		}
	}
	o := &Object{Data: body, ContentType: r.Header.Get("Content-Type"), Meta: map[string]string{}, ModTime: time.Now().UTC().Truncate(time.Second)}
	for k, vs := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-meta-") {
			o.Meta[lk] = vs[0]
		}
	}
	s.mu.Lock()
	_, exists := s.objects[name]
	if exists && r.Header.Get("If-None-Match") == "*" {
		s.mu.Unlock()
		writeError(w, r, http.StatusPreconditionFailed, "PreconditionFailed", "the object exists")
		return
	}
	s.objects[name] = o
	s.mu.Unlock()
	w.Header().Set("ETag", etag(body))
	w.WriteHeader(http.StatusOK)
}

func etag(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	o, ok := s.objects[name]
	s.mu.Unlock()
	if !ok {
		writeError(w, r, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	w.Header().Set("Content-Type", o.ContentType)
	w.Header().Set("ETag", etag(o.Data))
	for k, v := range o.Meta {
		w.Header().Set(k, v)
	}
	// ServeContent answers HEAD and Range requests as S3 does.
	http.ServeContent(w, r, "", o.ModTime, bytes.NewReader(o.Data))
}

type listContents struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int    `xml:"Size"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listResult struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []listContents `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
}

// list answers ListObjectsV2. Continuation tokens are the base64 of the
// last key returned, opaque to the client as S3's are.
func (s *Server) list(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	maxKeys := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, "InvalidArgument", "max-keys "+v)
			return
		}
		maxKeys = n
	}
	if s.MaxKeys > 0 && s.MaxKeys < maxKeys {
		maxKeys = s.MaxKeys
	}
	after := ""
	if tok := q.Get("continuation-token"); tok != "" {
		b, err := base64.StdEncoding.DecodeString(tok)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect")
			return
		}
		after = string(b)
	}
	res := listResult{Name: bucket, Prefix: prefix, MaxKeys: maxKeys, ContinuationToken: q.Get("continuation-token")}
	s.fillList(&res, bucket, prefix, delim, after, maxKeys)
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(res)
}

// fillList adds the entries after key `after`, grouping keys under
// delimiters into common prefixes, up to maxKeys entries.
func (s *Server) fillList(res *listResult, bucket, prefix, delim, after string, maxKeys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for name := range s.objects {
		if key, ok := strings.CutPrefix(name, bucket+"/"); ok && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	last := ""
	for _, key := range keys {
		entry := key
		if i := strings.Index(key[len(prefix):], delim); delim != "" && i >= 0 {
			entry = key[:len(prefix)+i+len(delim)]
		}
		if entry <= after || entry == last {
			continue
		}
		if res.KeyCount == maxKeys {
			res.IsTruncated = true
			res.NextContinuationToken = base64.StdEncoding.EncodeToString([]byte(last))
			return
		}
		last = entry
		res.KeyCount++
		if entry != key {
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: entry})
			continue
		}
		o := s.objects[bucket+"/"+key]
		res.Contents = append(res.Contents, listContents{Key: key, LastModified: o.ModTime.Format(time.RFC3339),
			ETag: etag(o.Data), Size: len(o.Data)})
	}
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	type errorDoc struct {
		XMLName  xml.Name `xml:"Error"`
		Code     string   `xml:"Code"`
		Message  string   `xml:"Message"`
		Resource string   `xml:"Resource"`
	}
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(errorDoc{Code: code, Message: msg, Resource: r.URL.Path})
}
