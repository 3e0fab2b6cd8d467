// Package caddyargs holds the small Caddyfile argument readers that every
// picket module's parser uses, so that they all report a wrong argument
// count the same way, with the file and line.
package caddyargs

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// One reads exactly one argument of the current subdirective into dst.
func One(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Append reads one or more arguments of the current subdirective and adds
// them to dst.
func Append(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}
