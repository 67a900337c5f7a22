// Package sigv4 signs and verifies S3 requests with AWS Signature Version 4
// (Authorization header, signed payload hash), the scheme AWS S3 and
// S3-compatible stores such as MinIO accept. It is the few lines of the
// AWS SDK this project needs, on the standard library.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	// Algorithm is the signing algorithm named in the Authorization header.
	Algorithm = "AWS4-HMAC-SHA256"
	// TimeFormat is the layout of the X-Amz-Date header.
	TimeFormat = "20060102T150405Z"
	// EmptySHA256 is the payload hash of a request without a body.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	service     = "s3"
)

// Credentials are an AWS access key pair, with the session token of
// temporary credentials (empty for long-term keys).
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Sign authorizes req for region at time t: it sets X-Amz-Date,
// X-Amz-Content-Sha256 (payloadHash, the hex SHA-256 of the body),
// X-Amz-Security-Token when there is a session token, and Authorization.
// Every header already on req is signed, with the host, so set them all
// before signing; headers the transport adds later (User-Agent,
// Accept-Encoding, Content-Length) are not signed, which S3 allows.
func Sign(req *http.Request, c Credentials, region, payloadHash string, t time.Time) {
	amzDate := t.UTC().Format(TimeFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	req.Header.Del("Authorization")
	signed := signedHeaders(req)
	scope := amzDate[:8] + "/" + region + "/" + service + "/aws4_request"
	sts := StringToSign(amzDate, scope, CanonicalRequest(req, signed, payloadHash))
	sig := hex.EncodeToString(hmacSHA256(SigningKey(c.SecretAccessKey, amzDate[:8], region), sts))
	req.Header.Set("Authorization", Algorithm+" Credential="+c.AccessKeyID+"/"+scope+
		",SignedHeaders="+strings.Join(signed, ";")+",Signature="+sig)
}

// signedHeaders lists host and the lower-cased names of req's headers,
// sorted, without those a proxy or the transport may rewrite.
func signedHeaders(req *http.Request) []string {
	names := []string{"host"}
	for k := range req.Header {
		switch lk := strings.ToLower(k); lk {
		case "authorization", "user-agent", "content-length", "host":
		default:
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	return names
}

// CanonicalRequest is the request string SigV4 hashes: method, URI-encoded
// path as sent, canonical query string, the signed headers with their
// trimmed values, the signed header list and the payload hash.
func CanonicalRequest(req *http.Request, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(req.Method)
	b.WriteByte('\n')
	p := req.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	b.WriteString(p)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(req.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(req, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// headerValue is a header's canonical value: values joined by commas,
// each trimmed with inner runs of spaces collapsed.
func headerValue(req *http.Request, name string) string {
	if name == "host" {
		if req.Host != "" {
			return req.Host
		}
		return req.URL.Host
	}
	vals := req.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalQuery re-encodes a raw query with Escape and sorts it by name,
// then value, so that client and server agree whatever encoding was sent.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		// An unparsable query cannot be canonicalized; signing it as is
		// makes the server's refusal name the real problem.
		return raw
	}
	return EncodeQuery(q)
}

// EncodeQuery encodes q the way SigV4 canonicalizes a query: names and
// values escaped with Escape, sorted by name then value. Sending a query
// encoded this way means the signed and the sent query are the same.
func EncodeQuery(q url.Values) string {
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, Escape(k)+"="+Escape(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// StringToSign joins the algorithm, request time, credential scope and the
// hex SHA-256 of the canonical request.
func StringToSign(amzDate, scope, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// SigningKey derives the key of one day, region and service from the
// secret access key.
func SigningKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// Escape percent-encodes every byte except the RFC 3986 unreserved
// characters (A-Z a-z 0-9 - . _ ~), with upper-case hex, as SigV4 requires.
func Escape(s string) string { return escape(s, false) }

// EscapePath is Escape that keeps "/", for object keys in a URL path.
func EscapePath(s string) string { return escape(s, true) }

func escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// Verify checks a signed request the way S3 does, for fake servers in
// tests: the Authorization header's scope (date of X-Amz-Date, region,
// service), that host and every x-amz-* header are signed, and the
// signature over the request as received. secret returns the secret key of
// an access key ID. It does not hash the body: callers compare
// X-Amz-Content-Sha256 with the body they read.
func Verify(req *http.Request, region string, secret func(accessKeyID string) (string, bool)) error {
	auth, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	amzDate := req.Header.Get("X-Amz-Date")
	if _, err := time.Parse(TimeFormat, amzDate); err != nil {
		return fmt.Errorf("X-Amz-Date %q: want %s", amzDate, TimeFormat)
	}
	wantScope := amzDate[:8] + "/" + region + "/" + service + "/aws4_request"
	if auth.scope != wantScope {
		return fmt.Errorf("credential scope %q, want %q", auth.scope, wantScope)
	}
	key, ok := secret(auth.accessKeyID)
	if !ok {
		return fmt.Errorf("unknown access key %q", auth.accessKeyID)
	}
	if err := checkSignedHeaders(req, auth.signed); err != nil {
		return err
	}
	payloadHash := req.Header.Get("X-Amz-Content-Sha256")
	sts := StringToSign(amzDate, auth.scope, CanonicalRequest(req, auth.signed, payloadHash))
	want := hmacSHA256(SigningKey(key, amzDate[:8], region), sts)
	got, err := hex.DecodeString(auth.signature)
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("signature does not match the request")
	}
	return nil
}

type authorization struct {
	accessKeyID, scope, signature string
	signed                        []string
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=AK/scope,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		return a, fmt.Errorf("authorization header %q: want %s", h, Algorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			a.accessKeyID, a.scope, _ = strings.Cut(v, "/")
		case "SignedHeaders":
			a.signed = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || a.scope == "" || len(a.signed) == 0 || a.signature == "" {
		return a, fmt.Errorf("authorization header %q: want Credential, SignedHeaders and Signature", h)
	}
	return a, nil
}

func checkSignedHeaders(req *http.Request, signed []string) error {
	set := make(map[string]bool, len(signed))
	for _, s := range signed {
		set[s] = true
	}
	if !set["host"] {
		return errors.New("host is not a signed header")
	}
	for k := range req.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") && !set[lk] {
			return fmt.Errorf("header %s is not signed", lk)
		}
	}
	return nil
}
