// Package fakegcs is an in-memory Cloud Storage JSON API server for tests
// (no network): objects get, insert (multipart uploads), delete and list
// with prefix, delimiter and page tokens, plus the two places the driver
// gets tokens from, an OAuth2 token endpoint that checks service-account
// JWT assertions with a public key and the GCE metadata server. Requests
// must carry a token it issued unless Anonymous is set.
package fakegcs

import (
	"bytes"
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenPath and MetadataTokenPath are where the server issues tokens.
const (
	TokenPath         = "/token"
	MetadataTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token"
)

// Server is an http.Handler faking Cloud Storage and its token endpoints.
type Server struct {
	// PublicKey checks the JWT assertions posted to TokenPath.
	PublicKey *rsa.PublicKey
	// Audience is the aud an assertion must name: the full token URL.
	Audience string
	// RefreshToken, when set, is accepted at TokenPath in a refresh_token
	// grant (gcloud user credentials).
	RefreshToken string
	// Anonymous lets requests without a token in.
	Anonymous bool
	// MaxResults caps list pages below the client's maxResults; 0 is 1000.
	MaxResults int

	mu       sync.Mutex
	objects  map[string]*Object // by bucket + "/" + name
	tokens   map[string]bool
	issued   int
	requests []string
}

// Object is a stored object.
type Object struct {
	Data        []byte
	ContentType string
	Metadata    map[string]string
	Updated     time.Time
}

// New returns an empty server.
func New() *Server {
	return &Server{objects: map[string]*Object{}, tokens: map[string]bool{}}
}

// Issued returns how many tokens the server has issued.
func (s *Server) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// KeyFile generates an RSA key the server then trusts at TokenPath and
// returns a service-account key file (JSON) for it naming tokenURL, the
// server's URL + TokenPath, as its token_uri.
func (s *Server) KeyFile(tokenURL string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	s.PublicKey, s.Audience = &key.PublicKey, tokenURL
	return json.Marshal(map[string]string{"type": "service_account", "client_email": "mlops@proj.iam.gserviceaccount.com",
		"private_key_id": "k1", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri": tokenURL})
}

// Allow accepts tok as if the server had issued it.
func (s *Server) Allow(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

// Requests returns "METHOD path?query" of every storage request received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Object returns the object bucket/name, if stored.
func (s *Server) Object(bucket, name string) (*Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+name]
	return o, ok
}

// ServeHTTP answers one request.
// cyclomatic: a dispatch on path and method, each branch one call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case p == TokenPath && r.Method == http.MethodPost:
		s.token(w, r)
		return
	case p == MetadataTokenPath && r.Method == http.MethodGet:
		if r.Header.Get("Metadata-Flavor") != "Google" {
			writeError(w, http.StatusForbidden, "forbidden", "missing Metadata-Flavor: Google")
			return
		}
		s.issue(w)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	authorized := s.Anonymous || s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	s.mu.Unlock()
	if !authorized {
		writeError(w, http.StatusUnauthorized, "required", "Anonymous caller does not have storage.objects access")
		return
	}
	upload := strings.HasPrefix(p, "/upload/")
	bucket, name, isObject, err := parsePath(strings.TrimPrefix(p, "/upload"))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
	case upload && !isObject && r.Method == http.MethodPost:
		s.insert(w, r, bucket)
	case !isObject && r.Method == http.MethodGet:
		s.list(w, r, bucket)
	case isObject && r.Method == http.MethodGet:
		s.get(w, r, bucket, name)
	case isObject && r.Method == http.MethodDelete:
		s.delete(w, bucket, name)
	default:
		writeError(w, http.StatusNotImplemented, "notImplemented", r.Method+" "+p)
	}
}

// parsePath splits /storage/v1/b/BUCKET/o[/NAME]; NAME is one escaped
// segment, as the API requires ("/" in names sent as %2F).
func parsePath(p string) (bucket, name string, isObject bool, err error) {
	rest, ok := strings.CutPrefix(p, "/storage/v1/b/")
	if !ok {
		return "", "", false, fmt.Errorf("path %s: want /storage/v1/b/BUCKET/o[/NAME]", p)
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[1] != "o" || len(parts) > 3 {
		return "", "", false, fmt.Errorf("path %s: want /storage/v1/b/BUCKET/o[/NAME] with NAME escaped", p)
	}
	if bucket, err = url.PathUnescape(parts[0]); err != nil || len(parts) == 2 {
		return bucket, "", false, err
	}
	name, err = url.PathUnescape(parts[2])
	return bucket, name, true, err
}

// token checks a JWT-bearer grant (RFC 7523) or a refresh-token grant
// and issues a token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, "invalid_request", err.Error())
		return
	}
	switch f := r.PostForm; f.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if err := s.checkAssertion(f.Get("assertion")); err != nil {
			writeTokenError(w, "invalid_grant", err.Error())
			return
		}
	case "refresh_token":
		if s.RefreshToken == "" || f.Get("refresh_token") != s.RefreshToken || f.Get("client_id") == "" {
			writeTokenError(w, "invalid_grant", "Bad Request")
			return
		}
	default:
		writeTokenError(w, "unsupported_grant_type", "grant_type "+f.Get("grant_type"))
		return
	}
	s.issue(w)
}

func (s *Server) checkAssertion(jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || s.PublicKey == nil {
		return fmt.Errorf("assertion is not a JWT (or the fake has no public key)")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(s.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("invalid JWT signature: %v", err)
	}
	var header struct{ Alg string }
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(h, &header) != nil || json.Unmarshal(c, &claims) != nil {
		return fmt.Errorf("undecodable JWT header or claims")
	}
	switch {
	case header.Alg != "RS256":
		return fmt.Errorf("alg %q, want RS256", header.Alg)
	case claims.Aud != s.Audience:
		return fmt.Errorf("aud %q, want %q", claims.Aud, s.Audience)
	case claims.Iss == "" || !strings.Contains(claims.Scope, "devstorage"):
		return fmt.Errorf("iss %q, scope %q: want an account and a storage scope", claims.Iss, claims.Scope)
	case claims.Exp <= claims.Iat || claims.Exp-claims.Iat > 3600:
		return fmt.Errorf("iat %d, exp %d: want a lifetime of at most an hour", claims.Iat, claims.Exp)
	}
	return nil
}

func (s *Server) issue(w http.ResponseWriter) {
	s.mu.Lock()
	s.issued++
	tok := "ya29.fake-" + strconv.Itoa(s.issued)
	s.tokens[tok] = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

// resource is the object resource as the API sends it.
func resource(bucket, name string, o *Object) map[string]any {
	sum := md5.Sum(o.Data)
	return map[string]any{"kind": "storage#object", "bucket": bucket, "name": name, "size": strconv.Itoa(len(o.Data)),
		"contentType": o.ContentType, "updated": o.Updated.Format(time.RFC3339Nano), "metadata": o.Metadata,
		"md5Hash": base64.StdEncoding.EncodeToString(sum[:]), "etag": "CAE="}
}

// insert handles uploadType=multipart: a JSON resource part, then the
// content; md5Hash, when given, is checked as GCS checks it.
func (s *Server) insert(w http.ResponseWriter, r *http.Request, bucket string) {
	if r.URL.Query().Get("uploadType") != "multipart" {
		writeError(w, http.StatusBadRequest, "invalid", "the fake supports uploadType=multipart only")
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		writeError(w, http.StatusBadRequest, "invalid", "want Content-Type multipart/related")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var meta struct {
		Name, ContentType, MD5Hash string
		Metadata                   map[string]string
	}
	part, err := mr.NextPart()
	if err != nil || json.NewDecoder(part).Decode(&meta) != nil || meta.Name == "" {
		writeError(w, http.StatusBadRequest, "invalid", "first part: want the JSON object resource with a name")
		return
	}
	part, err = mr.NextPart()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "second part: want the content")
		return
	}
	data, err := io.ReadAll(part)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if sum := md5.Sum(data); meta.MD5Hash != "" && meta.MD5Hash != base64.StdEncoding.EncodeToString(sum[:]) {
		writeError(w, http.StatusBadRequest, "invalid", "Provided MD5 hash does not match the calculated MD5 hash of the data")
		return
	}
	o := &Object{Data: data, ContentType: meta.ContentType, Metadata: meta.Metadata, Updated: time.Now().UTC()}
	s.mu.Lock()
	_, exists := s.objects[bucket+"/"+meta.Name]
	if exists && r.URL.Query().Get("ifGenerationMatch") == "0" {
		s.mu.Unlock()
		writeError(w, http.StatusPreconditionFailed, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")
		return
	}
	s.objects[bucket+"/"+meta.Name] = o
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resource(bucket, meta.Name, o))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, bucket, name string) {
	s.mu.Lock()
	o, ok := s.objects[bucket+"/"+name]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", "No such object: "+bucket+"/"+name)
		return
	}
	if r.URL.Query().Get("alt") != "media" {
		writeJSON(w, http.StatusOK, resource(bucket, name, o))
		return
	}
	w.Header().Set("Content-Type", o.ContentType)
	http.ServeContent(w, r, "", o.Updated, bytes.NewReader(o.Data))
}

func (s *Server) delete(w http.ResponseWriter, bucket, name string) {
	s.mu.Lock()
	_, ok := s.objects[bucket+"/"+name]
	delete(s.objects, bucket+"/"+name)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", "No such object: "+bucket+"/"+name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// list answers objects.list; page tokens are the base64 of the last entry.
func (s *Server) list(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	limit := 1000
	if n, err := strconv.Atoi(q.Get("maxResults")); err == nil && n > 0 {
		limit = n
	}
	if s.MaxResults > 0 && s.MaxResults < limit {
		limit = s.MaxResults
	}
	afterB, err := base64.StdEncoding.DecodeString(q.Get("pageToken"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "bad pageToken")
		return
	}
	writeJSON(w, http.StatusOK, s.page(bucket, prefix, delim, string(afterB), limit))
}

// page collects the entries after `after`, keys under a delimiter grouped
// into prefixes, up to limit entries.
func (s *Server) page(bucket, prefix, delim, after string, limit int) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for full := range s.objects {
		if name, ok := strings.CutPrefix(full, bucket+"/"); ok && strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	items, prefixes := []any{}, []string{}
	res := map[string]any{"kind": "storage#objects"}
	last, n := "", 0
	for _, name := range names {
		entry := name
		if i := strings.Index(name[len(prefix):], delim); delim != "" && i >= 0 {
			entry = name[:len(prefix)+i+len(delim)]
		}
		if entry <= after || entry == last {
			continue
		}
		if n == limit {
			res["nextPageToken"] = base64.StdEncoding.EncodeToString([]byte(last))
			break
		}
		last, n = entry, n+1
		if entry != name {
			prefixes = append(prefixes, entry)
		} else {
			items = append(items, resource(bucket, name, s.objects[bucket+"/"+name]))
		}
	}
	res["items"], res["prefixes"] = items, prefixes
	return res
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, reason, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg,
		"errors": []map[string]string{{"reason": reason, "message": msg}}}})
}

func writeTokenError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}
