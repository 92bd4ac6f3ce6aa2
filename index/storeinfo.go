package index

import "time"

// StoreInfo names the event store of a case whose events are not in its folder (issue 18).
type StoreInfo struct {
	// URL is the store as --store named it (victorialogs://host:9428), without password.
	URL string `json:"url"`
	// Case is the name the case's events carry in the store (kubesleuth.case), so that
	// one store holds many cases.
	Case string `json:"case"`
	// Events is how many events of the case the store held after the last run (counted
	// there, not here: the folder's own store holds none).
	Events int `json:"events"`
	// First and Last are the times of the case's oldest and newest events in the store.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
}

// SetStore records, for the next Commit or Finish, that the case's events live in s.
func (w *Writer) SetStore(s StoreInfo) { w.info.Store = &s }
