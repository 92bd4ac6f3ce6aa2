// Package common holds what every part of the investigation TUI shares: the style sheet,
// the key map, text helpers that make data safe to draw, and the Context that carries them
// (after charmbracelet/soft-serve's common.Common), so components take one argument and
// tests can pin the time zone and the styles in one place.
package common
