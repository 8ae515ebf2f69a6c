package matgto

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// MaxCassetteNameBytes is the longest cassette name the server accepts.
const MaxCassetteNameBytes = 200

// CassetteName turns a test name (t.Name(), "TestOrders/create_#01") into
// a cassette name the server accepts: segments of [A-Za-z0-9._-+=@,[]]
// separated by "/" (each subtest a folder level), no empty, "." or ".."
// segment, at most [MaxCassetteNameBytes] bytes. A name that is already
// valid is kept as it is. Otherwise every other character becomes "_" and
// ",h" plus 8 hex digits of a hash of the test name is appended, so that
// two test names that differ only in such characters ("a:b", "a;b") still
// get different cassettes.
func CassetteName(testName string) string {
	segs := strings.Split(testName, "/")
	changed := false
	for i, seg := range segs {
		var b strings.Builder
		for _, r := range seg {
			if r < 0x80 && allowedNameChar(byte(r)) {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
				changed = true
			}
		}
		out := b.String()
		if out == "" || strings.Trim(out, ".") == "" {
			// "", "." and ".." are refused; any run of dots is kept readable.
			out = strings.Repeat("_", max(len(out), 1))
			changed = true
		}
		segs[i] = out
	}
	name := strings.Join(segs, "/")
	if !changed && len(name) <= MaxCassetteNameBytes {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(testName))
	suffix := fmt.Sprintf(",h%08x", h.Sum32())
	if len(name)+len(suffix) > MaxCassetteNameBytes {
		name = strings.TrimRight(name[:MaxCassetteNameBytes-len(suffix)], "/")
	}
	return name + suffix
}

func allowedNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("._-+=@,[]", c) >= 0
}
