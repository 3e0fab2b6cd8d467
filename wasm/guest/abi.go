//go:build wasip1

package guest

import "unsafe"

// Imports of the http-wasm handler ABI, module "http_handler". Pointers
// travel as unsafe.Pointer so that the wasm signature is a plain i32.

//go:wasmimport http_handler enable_features
func enableFeatures(features uint32) uint32

//go:wasmimport http_handler get_config
func getConfig(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler log_enabled
func logEnabled(level int32) uint32

//go:wasmimport http_handler log
func logMessage(level int32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_protocol_version
func getProtocolVersion(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_source_addr
func getSourceAddr(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_header_names
func getHeaderNames(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32,
	buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32,
	value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler add_header_value
func addHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32,
	value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler remove_header
func removeHeader(kind uint32, name unsafe.Pointer, nameLen uint32)

//go:wasmimport http_handler write_body
func writeBody(kind uint32, buf unsafe.Pointer, bufLen uint32)

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

// Header kinds and body kinds of the ABI.
const (
	kindRequest  uint32 = 0
	kindResponse uint32 = 1
)

// scratch is the buffer the host writes results into. It grows when a
// result does not fit; the guest runs one request at a time, so one buffer
// is enough.
var scratch = make([]byte, 2048)

// readString calls fn with the scratch buffer, growing it once if the host
// reports a longer result than fits.
func readString(fn func(buf unsafe.Pointer, limit uint32) uint32) string {
	n := fn(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
	if int(n) > len(scratch) {
		scratch = make([]byte, n)
		n = fn(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
	}
	return string(scratch[:n])
}

// readList is readString for the ABI's NUL-terminated lists, whose result
// packs the count in the high and the byte length in the low 32 bits.
func readList(fn func(buf unsafe.Pointer, limit uint32) uint64) []string {
	cl := fn(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
	count, n := uint32(cl>>32), uint32(cl)
	if count == 0 {
		return nil
	}
	if int(n) > len(scratch) {
		scratch = make([]byte, n)
		cl = fn(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
		count, n = uint32(cl>>32), uint32(cl)
	}
	out := make([]string, 0, count)
	start := 0
	for i := 0; i < int(n); i++ {
		if scratch[i] == 0 {
			out = append(out, string(scratch[start:i]))
			start = i + 1
		}
	}
	return out
}

// ptr returns a pointer to s's bytes for the host to read; nil for "".
func ptr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}
