package components

// Scroll is a cursor over n items shown h at a time. It keeps the cursor on screen and
// never indexes out of range, whatever n, h and moves are (n and h may be 0).
type Scroll struct {
	Cursor, Offset int
}

// Clamp brings cursor and offset back into range for n items and a window of h lines.
func (s *Scroll) Clamp(n, h int) {
	if s.Cursor >= n {
		s.Cursor = n - 1
	}
	if s.Cursor < 0 {
		s.Cursor = 0
	}
	if h <= 0 {
		s.Offset = s.Cursor
		return
	}
	if s.Cursor < s.Offset {
		s.Offset = s.Cursor
	}
	if s.Cursor >= s.Offset+h {
		s.Offset = s.Cursor - h + 1
	}
	if max := n - h; s.Offset > max {
		s.Offset = max
	}
	if s.Offset < 0 {
		s.Offset = 0
	}
}

// Move moves the cursor by d items.
func (s *Scroll) Move(d, n, h int) {
	s.Cursor += d
	s.Clamp(n, h)
}

// ScrollBy moves the window (mouse wheel) by d lines, dragging the cursor along when it
// would leave the screen.
func (s *Scroll) ScrollBy(d, n, h int) {
	s.Offset += d
	if max := n - h; s.Offset > max {
		s.Offset = max
	}
	if s.Offset < 0 {
		s.Offset = 0
	}
	if s.Cursor < s.Offset {
		s.Cursor = s.Offset
	}
	if h > 0 && s.Cursor >= s.Offset+h {
		s.Cursor = s.Offset + h - 1
	}
	s.Clamp(n, h)
}
