// Package tui is `kubesleuth investigate`: a bubbletea program over a case folder
// (index.Reader) with a findings list, an event timeline, a detail pane, a histogram and
// a status bar; search with history, one-key pivots with a back stack, the identity,
// secret, etcd and context views, bookmarks and notes saved in the case, and export.
//
// The model never blocks: every Reader call runs in a tea.Cmd (fetch.go). Calls that
// belong to a view carry the view's generation; a newer view cancels the older one's
// context and drops its late results, so typing ahead never shows stale rows. Text from
// the data is cleaned of control characters (common.Clean) before it is drawn.
package tui
