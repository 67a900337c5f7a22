package gcs

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Scope is the OAuth2 scope tokens are requested for: object reads and
// writes, nothing on bucket settings or IAM.
const Scope = "https://www.googleapis.com/auth/devstorage.read_write"

// defaultTokenURI is Google's OAuth2 token endpoint, for key files that do
// not name one.
const defaultTokenURI = "https://oauth2.googleapis.com/token"

// TokenSource returns OAuth2 access tokens; "" means send none.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// DefaultTokens picks the credentials of the environment, in order:
//
//  1. $GOOGLE_OAUTH_ACCESS_TOKEN, a token used as is;
//  2. $GOOGLE_APPLICATION_CREDENTIALS, a key file: a service account key
//     (type service_account, exchanged as a signed JWT at its token_uri)
//     or gcloud user credentials (type authorized_user, refreshed);
//  3. the metadata server of GCE, GKE, Cloud Run and Cloud Functions
//     ($GCE_METADATA_HOST, else metadata.google.internal);
//     where its name does not resolve, no token (anonymous access).
//
// Tokens are fetched on first use and cached until a minute before they
// expire; hc (nil: http.DefaultClient) sends the token requests.
func DefaultTokens(getenv func(string) string, hc *http.Client) (TokenSource, error) {
	if tok := getenv("GOOGLE_OAUTH_ACCESS_TOKEN"); tok != "" {
		return staticToken(tok), nil
	}
	if path := getenv("GOOGLE_APPLICATION_CREDENTIALS"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		ts, err := KeyFileTokens(data, hc)
		if err != nil {
			return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS %s: %w", path, err)
		}
		return ts, nil
	}
	host := getenv("GCE_METADATA_HOST")
	if host == "" {
		host = "metadata.google.internal"
	}
	return MetadataTokens(host, hc), nil
}

func orDefault(hc *http.Client) *http.Client {
	if hc == nil {
		return http.DefaultClient
	}
	return hc
}

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

// cache holds one token until shortly before it expires.
type cache struct {
	fetch func(ctx context.Context) (tok string, ttl time.Duration, err error)

	mu  sync.Mutex
	tok string
	exp time.Time
}

// Token returns the cached token or fetches a new one. Concurrent callers
// wait for one fetch rather than each asking the endpoint.
func (c *cache) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != "" && time.Now().Before(c.exp) {
		return c.tok, nil
	}
	tok, ttl, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	// A minute of margin so a token does not expire in flight.
	c.tok, c.exp = tok, time.Now().Add(ttl-time.Minute)
	return tok, nil
}

// keyFile is the part of a credentials JSON file the driver reads.
type keyFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

// KeyFileTokens returns the tokens of a service account key or of gcloud
// user credentials (the JSON of a key file); hc (nil:
// http.DefaultClient) sends the token requests.
func KeyFileTokens(data []byte, hc *http.Client) (TokenSource, error) {
	hc = orDefault(hc)
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("not a JSON key file: %w", err)
	}
	tokenURI := kf.TokenURI
	if tokenURI == "" {
		tokenURI = defaultTokenURI
	}
	switch kf.Type {
	case "service_account":
		key, err := parseRSAKey(kf.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("private_key: %w", err)
		}
		if kf.ClientEmail == "" {
			return nil, errors.New("client_email is empty")
		}
		return &cache{fetch: func(ctx context.Context) (string, time.Duration, error) {
			assertion, err := signJWT(key, kf.PrivateKeyID, kf.ClientEmail, tokenURI, time.Now())
			if err != nil {
				return "", 0, err
			}
			return postToken(ctx, hc, tokenURI, url.Values{
				"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}})
		}}, nil
	case "authorized_user":
		if kf.ClientID == "" || kf.RefreshToken == "" {
			return nil, errors.New("authorized_user credentials need client_id and refresh_token")
		}
		return &cache{fetch: func(ctx context.Context) (string, time.Duration, error) {
			return postToken(ctx, hc, tokenURI, url.Values{"grant_type": {"refresh_token"}, "client_id": {kf.ClientID},
				"client_secret": {kf.ClientSecret}, "refresh_token": {kf.RefreshToken}})
		}}, nil
	}
	return nil, fmt.Errorf("credentials type %q: want service_account or authorized_user", kf.Type)
}

func parseRSAKey(pemText string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T key, want RSA", k)
		}
		return rk, nil
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// signJWT makes the RS256 assertion of Google's service-account flow
// (RFC 7523): the account asks for Scope at aud, valid for an hour.
func signJWT(key *rsa.PrivateKey, keyID, email, aud string, now time.Time) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": keyID})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{"iss": email, "scope": Scope, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// tokenResponse is an OAuth2 token endpoint's answer, success or error.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postToken exchanges a grant at an OAuth2 token endpoint.
func postToken(ctx context.Context, hc *http.Client, tokenURI string, form url.Values) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("token endpoint %s: %w", tokenURI, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return doToken(hc, req)
}

// doToken sends a token request and reads the token and its lifetime.
func doToken(hc *http.Client, req *http.Request) (string, time.Duration, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token endpoint %s: %w", req.URL.Redacted(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	var tr tokenResponse
	decErr := json.NewDecoder(resp.Body).Decode(&tr)
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("token endpoint %s: HTTP %d %s: %s %s", req.URL.Redacted(), resp.StatusCode,
			http.StatusText(resp.StatusCode), tr.Error, tr.ErrorDescription)
	}
	if decErr != nil || tr.AccessToken == "" {
		return "", 0, fmt.Errorf("token endpoint %s: answer without access_token (%v)", req.URL.Redacted(), decErr)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= time.Minute {
		// A token without a lifetime is used once; one with a very short
		// lifetime would otherwise never be cached.
		ttl = time.Minute
	}
	return tr.AccessToken, ttl, nil
}

// MetadataTokens returns the tokens of the default service account from
// the metadata server at host; hc (nil: http.DefaultClient) sends the
// requests. Where host does not resolve (not on Google Cloud) it returns
// "" from then on: anonymous access.
func MetadataTokens(host string, hc *http.Client) TokenSource {
	m := &metadataTokens{host: host, hc: orDefault(hc)}
	m.cache.fetch = m.fetch
	return m
}

type metadataTokens struct {
	host  string
	hc    *http.Client
	cache cache

	mu       sync.Mutex
	notCloud bool
}

// Token implements TokenSource.
func (m *metadataTokens) Token(ctx context.Context) (string, error) {
	m.mu.Lock()
	notCloud := m.notCloud
	m.mu.Unlock()
	if notCloud {
		return "", nil
	}
	return m.cache.Token(ctx)
}

func (m *metadataTokens) fetch(ctx context.Context) (string, time.Duration, error) {
	// The metadata server answers in milliseconds where it exists; do not
	// let a stalled network hold the first request long.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := "http://" + m.host + "/computeMetadata/v1/instance/service-accounts/default/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", 0, fmt.Errorf("metadata server: %w", err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	tok, ttl, err := doToken(m.hc, req)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		m.mu.Lock()
		m.notCloud = true
		m.mu.Unlock()
		// An empty token with a long lifetime: the cache keeps it, and
		// Token answers from notCloud anyway.
		return "", 24 * time.Hour, nil
	}
	return tok, ttl, err
}
