// goclient drives tlogd with Go's HTTP clients (net/http and
// x/net/http2 must work): it reads the checkpoint, submits entries (one
// and 40 concurrent ones on one connection), checks every returned
// inclusion proof against the checkpoint's root (RFC 9162 section 2.1.3.2,
// written here from the RFC, not from tlogd), a duplicate and the RFC 6962
// get-sth, and the protocol each response came over.
//
//	goclient MODE BASE-URL [CA-FILE]
//
// MODE: nethttp-tls (net/http over TLS, ALPN h2), xnet-tls (x/net/http2
// over TLS), xnet-h2c (x/net/http2, cleartext prior knowledge), nethttp-h1
// (net/http over cleartext HTTP/1.1). Exit 0 and "ok" on success; exit 1
// with the first failure.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http2"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "goclient: "+format+"\n", a...)
	os.Exit(1)
}

func client(mode, caFile string) (*http.Client, string) {
	var cfg *tls.Config
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			fail("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", caFile)
		}
		cfg = &tls.Config{RootCAs: pool}
	}
	switch mode {
	case "nethttp-tls":
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}, "HTTP/2.0"
	case "xnet-tls":
		return &http.Client{Transport: &http2.Transport{TLSClientConfig: cfg}}, "HTTP/2.0"
	case "xnet-h2c":
		return &http.Client{Transport: &http2.Transport{AllowHTTP: true,
			DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
				return net.Dial(network, addr)
			}}}, "HTTP/2.0"
	case "nethttp-h1":
		return &http.Client{Transport: &http.Transport{}}, "HTTP/1.1"
	}
	fail("unknown mode %s", mode)
	return nil, ""
}

type checker struct {
	c     *http.Client
	base  string
	proto string
}

func (k *checker) do(method, path string, body []byte, hdr map[string]string) (int, []byte) {
	req, err := http.NewRequest(method, k.base+path, bytes.NewReader(body))
	if err != nil {
		fail("%v", err)
	}
	for n, v := range hdr {
		req.Header.Set(n, v)
	}
	resp, err := k.c.Do(req)
	if err != nil {
		fail("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		fail("%s %s: reading the body: %v", method, path, err)
	}
	if resp.Proto != k.proto {
		fail("%s %s came over %s, want %s", method, path, resp.Proto, k.proto)
	}
	return resp.StatusCode, b
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// verifyInclusion: RFC 9162 section 2.1.3.2.
func verifyInclusion(index, size uint64, leaf []byte, proof [][]byte, root []byte) bool {
	if index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, root)
}

type addAnswer struct {
	Index      uint64   `json:"index"`
	LeafHash   string   `json:"leaf_hash"`
	Checkpoint string   `json:"checkpoint"`
	Proof      []string `json:"inclusion_proof"`
}

// add submits entry and checks the answer; returns the index.
func (k *checker) add(entry []byte) uint64 {
	st, b := k.do("POST", "/add", entry, map[string]string{"Accept": "application/json"})
	if st != 200 {
		fail("POST /add: status %d: %s", st, b)
	}
	var a addAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		fail("POST /add: %v: %s", err, b)
	}
	lh := sha256.Sum256(append([]byte{0}, entry...))
	if a.LeafHash != base64.StdEncoding.EncodeToString(lh[:]) {
		fail("POST /add: leaf_hash %s is not SHA-256(0x00 || entry)", a.LeafHash)
	}
	lines := strings.Split(a.Checkpoint, "\n")
	if len(lines) < 4 {
		fail("POST /add: checkpoint too short: %q", a.Checkpoint)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		fail("POST /add: checkpoint size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		fail("POST /add: checkpoint root %q", lines[2])
	}
	proof := make([][]byte, len(a.Proof))
	for i, p := range a.Proof {
		if proof[i], err = base64.StdEncoding.DecodeString(p); err != nil || len(proof[i]) != 32 {
			fail("POST /add: proof hash %q", p)
		}
	}
	if !verifyInclusion(a.Index, size, lh[:], proof, root) {
		fail("POST /add: the inclusion proof of index %d does not lead to the root of size %d", a.Index, size)
	}
	return a.Index
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: goclient MODE BASE-URL [CA-FILE]")
	}
	ca := ""
	if len(os.Args) > 3 {
		ca = os.Args[3]
	}
	c, proto := client(os.Args[1], ca)
	k := &checker{c: c, base: strings.TrimRight(os.Args[2], "/"), proto: proto}
	checks := 0

	st, b := k.do("GET", "/checkpoint", nil, nil)
	if st != 200 || !strings.Contains(string(b), "\n\n\u2014 ") {
		fail("GET /checkpoint: status %d, %q", st, b)
	}
	checks++

	tag := make([]byte, 8)
	rand.Read(tag)
	entry := []byte("go " + os.Args[1] + " " + hex.EncodeToString(tag))
	first := k.add(entry)
	if again := k.add(entry); again != first {
		fail("a duplicate got index %d, the original %d", again, first)
	}
	checks += 2

	// 40 distinct entries at once: multiplexed on one connection for HTTP/2.
	var wg sync.WaitGroup
	idx := make([]uint64, 40)
	for i := range idx {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			idx[i] = k.add([]byte(fmt.Sprintf("%s #%d", entry, i)))
		}(i)
	}
	wg.Wait()
	seen := map[uint64]bool{first: true}
	for _, i := range idx {
		if seen[i] {
			fail("index %d given twice", i)
		}
		seen[i] = true
	}
	checks += len(idx)

	st, b = k.do("GET", "/ct/v1/get-sth", nil, nil)
	var sth struct {
		TreeSize uint64 `json:"tree_size"`
	}
	if st != 200 || json.Unmarshal(b, &sth) != nil || sth.TreeSize < uint64(len(seen)) {
		fail("GET /ct/v1/get-sth: status %d, %s", st, b)
	}
	st, b = k.do("GET", "/ct/v1/get-proof-by-hash?hash=%zz&tree_size=1", nil, nil)
	if st != 400 || bytes.Count(b, []byte("\n")) != 1 {
		fail("a malformed query: status %d, %q (want 400 and one line)", st, b)
	}
	checks += 2
	fmt.Printf("ok %s: %d checks\n", os.Args[1], checks)
}
