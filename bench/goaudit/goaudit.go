// goaudit is the Go auditor that `tlog audit` is measured against
// (bench/goaudit.sh): a plain, competent audit of a C2SP tlog-tiles log
// written with golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog.
//
//	goaudit [-inflight N] [-json] [-ca FILE] BASE-URL VKEY
//
// VKEY is the log's verifier key (a C2SP signed-note key, the same format as
// a sumdb note verifier key) or a file holding it. BASE-URL is http:// (h2c,
// HTTP/2 with prior knowledge, x/net/http2, one connection) or https://
// (HTTP/2 over TLS; -ca FILE: the CA certificates to trust).
//
// It fetches the checkpoint and verifies its Ed25519 signature (note.Open),
// then fetches every entry bundle (full ones and the right-edge partial one)
// and every hash tile of every level, -inflight requests at a time (default
// 64, multiplexed over the HTTP/2 connection). Every entry is hashed
// (tlog.RecordHash) and the level-0 tile beside it must hold exactly those
// hashes; the hashes of every higher level are recomputed (tlog.NodeHash)
// and every served tile must equal them; the root recomputed from the
// entries (RFC 6962) must equal the checkpoint's. Exit 0 and one summary
// line (entries/s) on success; exit 1 with the first mismatch.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/net/http2"
)

const (
	height = 8
	width  = 1 << height
)

type auditor struct {
	c        *http.Client
	base     string
	requests int64
	bytes    int64
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "goaudit: "+format+"\n", a...)
	os.Exit(1)
}

// get fetches base/path and returns its body (status 200 only).
func (a *auditor) get(path string, max int64) ([]byte, error) {
	resp, err := a.c.Get(a.base + "/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body []byte
	if resp.ContentLength >= 0 && resp.ContentLength <= max {
		body = make([]byte, resp.ContentLength)
		_, err = io.ReadFull(resp.Body, body)
		if err == nil {
			var one [1]byte
			if k, _ := resp.Body.Read(one[:]); k > 0 {
				err = errors.New("body longer than its Content-Length")
			}
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", path, max)
	}
	atomic.AddInt64(&a.requests, 1)
	atomic.AddInt64(&a.bytes, int64(len(body)))
	return body, nil
}

// tilePath is the C2SP tlog-tiles path of a tile: x/mod's sumdb path
// (tile/8/L/N[.p/W], tile/8/data/N for entries) without the height.
func tilePath(level int, n int64, w int) string {
	p := tlog.Tile{H: height, L: level, N: n, W: w}.Path()
	p = strings.Replace(p, "tile/8/", "tile/", 1)
	return strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

// complete returns the RFC 6962 hash of a complete subtree whose 2^k
// leaves (or lower nodes) are hs.
func complete(hs []tlog.Hash) tlog.Hash {
	buf := append([]tlog.Hash(nil), hs...)
	for len(buf) > 1 {
		for i := 0; i < len(buf)/2; i++ {
			buf[i] = tlog.NodeHash(buf[2*i], buf[2*i+1])
		}
		buf = buf[:len(buf)/2]
	}
	return buf[0]
}

// bundle fetches entry bundle n (w entries) and the level-0 tile beside it,
// hashes every entry and checks the tile; returns the leaf hashes.
func (a *auditor) bundle(n int64, w int) ([]tlog.Hash, error) {
	data, err := a.get(tilePath(-1, n, w), int64(w)*(2+65535))
	if err != nil {
		return nil, err
	}
	leaves := make([]tlog.Hash, w)
	off := 0
	for i := 0; i < w; i++ {
		if len(data)-off < 2 {
			return nil, fmt.Errorf("%s: %d entries, want %d", tilePath(-1, n, w), i, w)
		}
		l := int(binary.BigEndian.Uint16(data[off:]))
		off += 2
		if len(data)-off < l {
			return nil, fmt.Errorf("%s: entry %d truncated", tilePath(-1, n, w), n*width+int64(i))
		}
		leaves[i] = tlog.RecordHash(data[off : off+l])
		off += l
	}
	if off != len(data) {
		return nil, fmt.Errorf("%s: %d bytes after %d entries", tilePath(-1, n, w), len(data)-off, w)
	}
	if err := a.tile(0, n, leaves); err != nil {
		return nil, err
	}
	return leaves, nil
}

// tile fetches hash tile (level, n) of len(want) hashes and compares it
// with the recomputed hashes.
func (a *auditor) tile(level int, n int64, want []tlog.Hash) error {
	p := tilePath(level, n, len(want))
	data, err := a.get(p, int64(len(want))*tlog.HashSize)
	if err != nil {
		return err
	}
	if len(data) != len(want)*tlog.HashSize {
		return fmt.Errorf("%s: %d bytes, want %d", p, len(data), len(want)*tlog.HashSize)
	}
	for i := range want {
		if !bytes.Equal(data[i*tlog.HashSize:(i+1)*tlog.HashSize], want[i][:]) {
			var got tlog.Hash
			copy(got[:], data[i*tlog.HashSize:])
			return fmt.Errorf("%s: hash %d (level %d) expected %v got %v", p, n*width+int64(i),
				level, want[i], got)
		}
	}
	return nil
}

// run runs jobs 0..count-1 on inflight goroutines; the first error wins.
func run(count int64, inflight int, job func(int64) error) error {
	var next int64 = -1
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for g := 0; g < inflight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= count {
					return
				}
				if err := job(i); err != nil {
					once.Do(func() { first = err })
					atomic.StoreInt64(&next, count)
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func client(base, caFile string) *http.Client {
	if strings.HasPrefix(base, "http://") {
		return &http.Client{Transport: &http2.Transport{AllowHTTP: true,
			DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
				return net.Dial(network, addr)
			}}}
	}
	cfg := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			fail("%v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", caFile)
		}
	}
	return &http.Client{Transport: &http2.Transport{TLSClientConfig: cfg}}
}

func checkpoint(a *auditor, vkey string) (origin string, size int64, root tlog.Hash) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := a.get("checkpoint", 1<<20)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != v.Name() {
		fail("checkpoint: origin is not %s", v.Name())
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		fail("checkpoint: bad size %q", lines[1])
	}
	r, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(r) != tlog.HashSize {
		fail("checkpoint: bad root hash %q", lines[2])
	}
	copy(root[:], r)
	return lines[0], size, root
}

func main() {
	inflight := flag.Int("inflight", 64, "requests in flight")
	asJSON := flag.Bool("json", false, "print the summary as JSON")
	caFile := flag.String("ca", "", "CA certificates (PEM) for https://")
	flag.Parse()
	if flag.NArg() != 2 || *inflight < 1 {
		fmt.Fprintln(os.Stderr, "usage: goaudit [-inflight N] [-json] [-ca FILE] BASE-URL VKEY")
		os.Exit(2)
	}
	base := strings.TrimRight(flag.Arg(0), "/")
	vkey := flag.Arg(1)
	if b, err := os.ReadFile(vkey); err == nil {
		vkey = strings.TrimSpace(string(b))
	}
	t0 := time.Now()
	a := &auditor{c: client(base, *caFile), base: base}
	origin, size, root := checkpoint(a, vkey)

	// Level 0: every bundle, hashed, and its level-0 tile checked; the root
	// of each full tile's subtree kept (the hashes of level 1).
	full := size / width
	tail := int(size % width)
	lv := [][]tlog.Hash{nil, make([]tlog.Hash, full)}
	var tailLeaves []tlog.Hash
	err := run(full+1, *inflight, func(n int64) error {
		if n == full {
			if tail == 0 {
				return nil
			}
			leaves, err := a.bundle(n, tail)
			tailLeaves = leaves
			return err
		}
		leaves, err := a.bundle(n, width)
		if err == nil {
			lv[1][n] = complete(leaves)
		}
		return err
	})
	if err != nil {
		fail("%v", err)
	}
	// Levels >= 1: recompute level L+1 from level L, then fetch and check
	// every tile of each level (full and partial).
	for L := 1; len(lv[L]) > 0; L++ {
		cnt := int64(len(lv[L]))
		up := make([]tlog.Hash, cnt/width)
		for j := range up {
			up[j] = complete(lv[L][int64(j)*width : int64(j+1)*width])
		}
		lv = append(lv, up)
		hs := lv[L]
		ntiles := (cnt + width - 1) / width
		if err := run(ntiles, *inflight, func(n int64) error {
			end := (n + 1) * width
			if end > cnt {
				end = cnt
			}
			return a.tile(L, n, hs[n*width:end])
		}); err != nil {
			fail("%v", err)
		}
	}
	// The root: the complete subtrees of the binary decomposition of size,
	// left to right, folded from the right (RFC 6962 section 2.1).
	var parts []tlog.Hash
	pos := int64(0)
	for b := 62; b >= 0; b-- {
		s := int64(1) << b
		if size&s == 0 {
			continue
		}
		if b >= height {
			parts = append(parts, complete(lv[1][pos/width:(pos+s)/width]))
		} else {
			parts = append(parts, complete(tailLeaves[pos-full*width:pos-full*width+s]))
		}
		pos += s
	}
	var got tlog.Hash
	if len(parts) > 0 {
		got = parts[len(parts)-1]
		for i := len(parts) - 2; i >= 0; i-- {
			got = tlog.NodeHash(parts[i], got)
		}
	} else {
		got = sha256.Sum256(nil) // the empty tree
	}
	if got != root {
		fail("root of %d entries expected %v (checkpoint) got %v", size, root, got)
	}
	secs := time.Since(t0).Seconds()
	rate := float64(size) / secs
	if *asJSON {
		out, _ := json.Marshal(map[string]interface{}{"ok": true, "origin": origin, "size": size,
			"root": root.String(), "entries_verified": size, "bytes": a.bytes,
			"requests": a.requests, "seconds": secs, "entries_per_second": rate})
		fmt.Println(string(out))
		return
	}
	fmt.Printf("goaudit: %s: %d entries verified, root %v, %d requests, %d bytes, %.3f s, %.0f entries/s\n",
		origin, size, root, a.requests, a.bytes, secs, rate)
}
