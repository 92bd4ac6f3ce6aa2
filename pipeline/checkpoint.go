package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Checkpoint is what a live run needs to resume after a restart, SIGKILL included: where
// the followed log was read to, the engine's state at that point, and where each
// resumable sink's output stood. All three are taken at the same moment (after a batch,
// its findings flushed), so a restart reads again exactly the events after it, the
// engine sees each event once, and an alert file is cut back to where it stood: each
// alert is written once.
type Checkpoint struct {
	Version int       `json:"version"`
	Written time.Time `json:"written"`
	File    FileState `json:"file"`
	// Source is a LiveSource's position (serve's spool), instead of File.
	Source json.RawMessage            `json:"source,omitempty"`
	Engine json.RawMessage            `json:"engine,omitempty"`
	Sinks  map[string]json.RawMessage `json:"sinks,omitempty"`
}

const checkpointVersion = 1

// StateError is a state file that cannot be resumed from (it does not decode, another
// version, or a state the engine refuses): the operator's to fix, not kubesleuth's.
type StateError struct {
	Path string
	Err  error
}

func (e *StateError) Error() string { return fmt.Sprintf("state file %s: %v", e.Path, e.Err) }
func (e *StateError) Unwrap() error { return e.Err }

// LoadCheckpoint reads a checkpoint; a missing file is (nil, nil): a first run.
//
// Failure modes: a file that does not decode or has another version is an error naming
// the file (a state file is never guessed at: resuming from a wrong place would read
// events twice or not at all).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, &StateError{path, fmt.Errorf("%d bytes that do not decode (%v)", len(b), err)}
	}
	if c.Version != checkpointVersion {
		return nil, &StateError{path, fmt.Errorf("version %d, this build reads %d", c.Version, checkpointVersion)}
	}
	return &c, nil
}

// Save writes the checkpoint atomically: a temporary file in the same folder, synced,
// renamed over the old one, and the folder synced. A kill at any moment leaves the old
// checkpoint or the new one, whole.
func (c *Checkpoint) Save(path string) error {
	c.Version = checkpointVersion
	c.Written = time.Now().UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	// redact: the engine's state is redacted by SaveState; the rest is paths and offsets
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
