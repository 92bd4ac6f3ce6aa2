package report

import "time"

// histogram is the event count per interval over the trail: start, interval, counts.
type histogram struct {
	start    time.Time
	interval time.Duration
	counts   []int
}

// targetBuckets is about how many bars the timeline has.
const targetBuckets = 720

// niceIntervals are the widths a timeline's bars may have.
var niceIntervals = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	2 * 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour,
}

// intervalFor is the smallest nice interval, a multiple of unit, that covers span in
// about targetBuckets bars.
func intervalFor(span, unit time.Duration) time.Duration {
	for _, d := range niceIntervals {
		if d >= unit && d%unit == 0 && span/d < targetBuckets {
			return d
		}
	}
	return niceIntervals[len(niceIntervals)-1]
}

// Counter counts events per minute in bounded memory: past maxKeys distinct minutes it
// counts per hour (a trail of years stays a few hundred thousand keys).
type Counter struct {
	unit time.Duration
	m    map[int64]int
}

const counterMaxKeys = 100000

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{unit: time.Minute, m: map[int64]int{}} }

// Add counts one event at t.
func (c *Counter) Add(t time.Time) {
	if t.IsZero() {
		return
	}
	c.m[t.UnixNano()/int64(c.unit)]++
	if len(c.m) > counterMaxKeys && c.unit == time.Minute {
		c.unit = time.Hour
		old := c.m
		c.m = make(map[int64]int, len(old)/30)
		for k, v := range old {
			c.m[k/60] += v
		}
	}
}

// histogram rebuckets the counts into the timeline's interval.
func (c *Counter) histogram() histogram {
	if len(c.m) == 0 {
		return histogram{}
	}
	lo, hi := int64(1<<62), int64(-1<<62)
	for k := range c.m {
		lo, hi = min(lo, k), max(hi, k)
	}
	first, last := time.Unix(0, lo*int64(c.unit)).UTC(), time.Unix(0, (hi+1)*int64(c.unit)).UTC()
	iv := intervalFor(last.Sub(first), c.unit)
	start := first.Truncate(iv)
	n := int(last.Sub(start)/iv) + 1
	h := histogram{start: start, interval: iv, counts: make([]int, n)}
	for k, v := range c.m {
		t := time.Unix(0, k*int64(c.unit))
		h.counts[int(t.Sub(start)/iv)] += v
	}
	for len(h.counts) > 0 && h.counts[len(h.counts)-1] == 0 {
		h.counts = h.counts[:len(h.counts)-1]
	}
	return h
}
