package boltstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The journal is the store's redo log: each group commit appends one record
// holding its writes and fdatasyncs the file, and that is the commit — the
// writes live in the memtable until a checkpoint moves them into the bbolt
// file in one large bbolt transaction. A record:
//
//	length  uint32, big endian: the bytes after the checksum
//	crc     uint32: CRC-32C of those bytes
//	seq     uint64: the record's sequence number, one more than the last
//	count   uvarint: how many writes follow
//	writes  kind (1 put, 2 delete), uvarint length + bucket,
//	        uvarint length + key, for a put uvarint length + value
//
// The journal is a series of segment files next to the bbolt file,
// "<file>.journal.<first seq, 16 hex digits>"; a checkpoint records the last
// sequence number it holds inside the bbolt file, and the segments it
// covers are then deleted.
const (
	opPut    = 1
	opDelete = 2

	// maxRecord bounds one record when reading: a length over it is
	// corruption, not a reason to allocate.
	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// op is one write of a group commit, as the journal keeps it.
type op struct {
	del         bool
	bucket, key string
	val         []byte
}

// appendRecord encodes a record of ops with sequence number seq onto dst.
func appendRecord(dst []byte, seq uint64, ops []op) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...) // length and checksum, set below
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(len(ops)))
	for _, o := range ops {
		kind := byte(opPut)
		if o.del {
			kind = opDelete
		}
		dst = append(dst, kind)
		dst = binary.AppendUvarint(dst, uint64(len(o.bucket)))
		dst = append(dst, o.bucket...)
		dst = binary.AppendUvarint(dst, uint64(len(o.key)))
		dst = append(dst, o.key...)
		if !o.del {
			dst = binary.AppendUvarint(dst, uint64(len(o.val)))
			dst = append(dst, o.val...)
		}
	}
	body := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

var errTorn = errors.New("a torn or corrupt record")

// readRecord decodes the record at the start of b and returns its sequence
// number, its writes and its encoded length; errTorn when b holds no whole,
// intact record.
func readRecord(b []byte) (seq uint64, ops []op, n int, err error) {
	if len(b) < 8 {
		return 0, nil, 0, errTorn
	}
	length := binary.BigEndian.Uint32(b)
	if length > maxRecord || uint64(len(b)-8) < uint64(length) {
		return 0, nil, 0, errTorn
	}
	body := b[8 : 8+int(length)]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) || len(body) < 8 {
		return 0, nil, 0, errTorn
	}
	seq = binary.BigEndian.Uint64(body)
	p := body[8:]
	count, k := binary.Uvarint(p)
	if k <= 0 || count > uint64(len(p)) {
		return 0, nil, 0, errTorn
	}
	p = p[k:]
	field := func() (string, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return "", false
		}
		s := string(p[k : k+int(l)])
		p = p[k+int(l):]
		return s, true
	}
	ops = make([]op, 0, count)
	for range count {
		if len(p) == 0 || (p[0] != opPut && p[0] != opDelete) {
			return 0, nil, 0, errTorn
		}
		o := op{del: p[0] == opDelete}
		p = p[1:]
		var ok1, ok2, ok3 bool
		o.bucket, ok1 = field()
		o.key, ok2 = field()
		ok3 = true
		if !o.del {
			var v string
			v, ok3 = field()
			o.val = []byte(v)
		}
		if !ok1 || !ok2 || !ok3 {
			return 0, nil, 0, errTorn
		}
		ops = append(ops, o)
	}
	if len(p) != 0 {
		return 0, nil, 0, errTorn
	}
	return seq, ops, 8 + int(length), nil
}

// segment is one journal file.
type segment struct {
	path  string
	first uint64 // the sequence number its first record has (or will have)
}

func segmentPath(db string, first uint64) string {
	return fmt.Sprintf("%s.journal.%016x", db, first)
}

// segments lists the journal files of the bbolt file db, oldest first.
func segments(db string) ([]segment, error) {
	entries, err := os.ReadDir(filepath.Dir(db))
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(db) + ".journal."
	var out []segment
	for _, e := range entries {
		hex, ok := strings.CutPrefix(e.Name(), prefix)
		first, err := strconv.ParseUint(hex, 16, 64)
		if !ok || len(hex) != 16 || err != nil {
			continue // not ours
		}
		out = append(out, segment{path: filepath.Join(filepath.Dir(db), e.Name()), first: first})
	}
	slices.SortFunc(out, func(a, b segment) int { return cmp.Compare(a.first, b.first) })
	return out, nil
}

// journal is the segment being appended to.
type journal struct {
	f   *os.File
	seg segment
	buf []byte
}

// createSegment creates the segment whose first record will be first, and
// makes its directory entry durable.
func createSegment(db string, first uint64, mode os.FileMode) (*journal, error) {
	seg := segment{path: segmentPath(db, first), first: first}
	f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, mode)
	if err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(db)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &journal{f: f, seg: seg}, nil
}

// append writes one record and returns once it is on disk.
func (j *journal) append(seq uint64, ops []op) error {
	j.buf = appendRecord(j.buf[:0], seq, ops)
	if _, err := j.f.Write(j.buf); err != nil {
		return err
	}
	if cap(j.buf) > 1<<20 {
		j.buf = nil // do not keep one large batch's buffer
	}
	return fdatasync(j.f)
}

func (j *journal) close() error { return j.f.Close() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tornTail reports whether a record that does not read at the start of b
// is the last write of the journal, cut short: its header is incomplete, or
// it claims to reach the end of b or beyond. A bad record with more
// journal after it is damage, not a torn write.
func tornTail(b []byte) bool {
	if len(b) < 8 {
		return true
	}
	return uint64(binary.BigEndian.Uint32(b))+8 >= uint64(len(b))
}

// replay reads the segments and calls apply for every record after seq, in
// order. A torn record at the end of the last segment is a commit that
// never returned: the segment is cut before it. Anything else that does
// not read — a gap in the numbers, a bad record with more after it — is an
// error: the journal cannot be trusted to say what was committed.
func replay(segs []segment, seq uint64, apply func(seq uint64, ops []op)) (last uint64, err error) {
	last = seq
	for i, s := range segs {
		data, err := os.ReadFile(s.path)
		if err != nil {
			return last, err
		}
		off := 0
		for off < len(data) {
			rs, ops, n, err := readRecord(data[off:])
			if err != nil {
				if i == len(segs)-1 && tornTail(data[off:]) {
					if err := os.Truncate(s.path, int64(off)); err != nil {
						return last, err
					}
					break
				}
				return last, fmt.Errorf("journal %s: %w at byte %d", filepath.Base(s.path), err, off)
			}
			off += n
			if rs <= seq {
				continue // checkpointed already
			}
			if rs != last+1 {
				return last, fmt.Errorf("journal %s: record %d follows %d", filepath.Base(s.path), rs, last)
			}
			apply(rs, ops)
			last = rs
		}
	}
	return last, nil
}
