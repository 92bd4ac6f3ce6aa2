package redact

import (
	"bufio"
	"os"
	"testing"
)

// BenchmarkJSON redacts every event of the generated fixture (what ingest does per
// event): most events take the fast path, secrets, pods and tokens the walk.
func BenchmarkJSON(b *testing.B) {
	f, err := os.Open("../../testdata/generated/small.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	b.SetBytes(size / int64(len(lines)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		JSON(lines[i%len(lines)])
	}
}
