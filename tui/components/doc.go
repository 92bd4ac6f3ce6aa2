// Package components are the panes of the investigation TUI: findings list, event
// timeline, detail, status bar, histogram and help. Each is plain state plus a View(w, h)
// that returns exactly h lines of exactly w cells (common.Block), so the app lays them out
// by joining strings and golden tests pin each one alone. Components never call the case:
// the app fetches data off the update loop and hands it to them.
package components
