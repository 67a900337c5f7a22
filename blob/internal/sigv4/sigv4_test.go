package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example key pair, bucket and time of the worked examples in AWS's
// "Authenticating Requests: Using the Authorization Header (AWS Signature
// Version 4)" documentation (Amazon S3 API Reference).
var (
	exampleCreds = Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	exampleTime  = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

// exampleRequest builds a request to examplebucket the way the S3 driver
// does: the path escaped with EscapePath, the query with EncodeQuery.
func exampleRequest(t *testing.T, method, path, rawQuery string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "https://examplebucket.s3.amazonaws.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, EscapePath(path), rawQuery
	return req
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type example struct {
	name, method, path, query string
	headers                   map[string]string
	payloadHash               string
	canonical                 string // the documented canonical request
	stringToSignHash          string // the last line of the documented string to sign
	authorization             string
}

var examples = []example{
	{
		name: "GET object", method: "GET", path: "/test.txt",
		headers:     map[string]string{"Range": "bytes=0-9"},
		payloadHash: EmptySHA256,
		canonical: "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
			"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
			"x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		stringToSignHash: "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
		authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
			"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	},
	{
		name: "PUT object", method: "PUT", path: "/test$file.text",
		headers:     map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Storage-Class": "REDUCED_REDUNDANCY"},
		payloadHash: sha256Hex("Welcome to Amazon S3."),
		canonical: "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n" +
			"x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n" +
			"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" +
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		stringToSignHash: "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
		authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class," +
			"Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
	},
	{
		name: "GET bucket lifecycle", method: "GET", path: "/", query: "lifecycle",
		payloadHash: EmptySHA256,
		canonical: "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
			"x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		stringToSignHash: "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
		authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date," +
			"Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
	},
	{
		// The query is sent unsorted to check canonical ordering.
		name: "GET bucket (list objects)", method: "GET", path: "/", query: "prefix=J&max-keys=2",
		payloadHash: EmptySHA256,
		canonical: "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
			"x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		stringToSignHash: "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
		authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date," +
			"Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	},
}

// TestAWSExamples reproduces AWS's published SigV4 examples step by step:
// canonical request, string to sign and Authorization header.
func TestAWSExamples(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			req := exampleRequest(t, ex.method, ex.path, ex.query)
			for k, v := range ex.headers {
				req.Header.Set(k, v)
			}
			Sign(req, exampleCreds, "us-east-1", ex.payloadHash, exampleTime)
			if got := req.Header.Get("Authorization"); got != ex.authorization {
				t.Errorf("Authorization\n got %s\nwant %s", got, ex.authorization)
			}
			signed := strings.Split(strings.Split(strings.Split(ex.authorization, "SignedHeaders=")[1], ",")[0], ";")
			canonical := CanonicalRequest(req, signed, ex.payloadHash)
			if canonical != ex.canonical {
				t.Errorf("canonical request\n got %q\nwant %q", canonical, ex.canonical)
			}
			sts := StringToSign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", canonical)
			if !strings.HasSuffix(sts, "\n"+ex.stringToSignHash) {
				t.Errorf("string to sign %q, want hash %s", sts, ex.stringToSignHash)
			}
			lookup := func(id string) (string, bool) { return exampleCreds.SecretAccessKey, id == exampleCreds.AccessKeyID }
			if err := Verify(req, "us-east-1", lookup); err != nil {
				t.Errorf("Verify of the signed example: %v", err)
			}
		})
	}
}

func TestSessionTokenIsSigned(t *testing.T) {
	req := exampleRequest(t, "GET", "/k", "")
	c := exampleCreds
	c.SessionToken = "token/with+chars"
	Sign(req, c, "eu-west-1", EmptySHA256, exampleTime)
	if req.Header.Get("X-Amz-Security-Token") != c.SessionToken ||
		!strings.Contains(req.Header.Get("Authorization"), "x-amz-security-token") {
		t.Fatalf("session token not sent and signed: %v", req.Header)
	}
}

// TestVerifyRejects checks that Verify notices each kind of tampering, so
// the fake S3 server in tests catches a driver that signs something other
// than what it sends.
func TestVerifyRejects(t *testing.T) {
	lookup := func(id string) (string, bool) { return exampleCreds.SecretAccessKey, id == exampleCreds.AccessKeyID }
	cases := map[string]func(*http.Request){
		"changed path":    func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/other", "" },
		"changed query":   func(r *http.Request) { r.URL.RawQuery = "prefix=K" },
		"changed host":    func(r *http.Request) { r.Host = "elsewhere.example.com" },
		"changed payload": func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha256Hex("x")) },
		"unsigned x-amz":  func(r *http.Request) { r.Header.Set("X-Amz-Meta-Sha256", "abc") },
		"unknown key": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIAIOSFODNN7EXAMPLE", "AKIDOTHER", 1))
		},
		"no authorization": func(r *http.Request) { r.Header.Del("Authorization") },
	}
	for name, tamper := range cases {
		req := exampleRequest(t, "GET", "/a b/c", "prefix=J")
		Sign(req, exampleCreds, "us-east-1", EmptySHA256, exampleTime)
		if err := Verify(req, "us-east-1", lookup); err != nil {
			t.Fatalf("%s: untampered request refused: %v", name, err)
		}
		tamper(req)
		if err := Verify(req, "us-east-1", lookup); err == nil {
			t.Errorf("%s: Verify accepted a tampered request", name)
		}
	}
	req := exampleRequest(t, "GET", "/k", "")
	Sign(req, exampleCreds, "us-east-1", EmptySHA256, exampleTime)
	if err := Verify(req, "eu-west-1", lookup); err == nil {
		t.Error("Verify accepted a request signed for another region")
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a-b_c.d~e": "a-b_c.d~e", "a b+c": "a%20b%2Bc", "x/y": "x%2Fy", "é": "%C3%A9", "$&=": "%24%26%3D",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := EscapePath("/runs/a b/m.json"); got != "/runs/a%20b/m.json" {
		t.Errorf("EscapePath = %q", got)
	}
}
