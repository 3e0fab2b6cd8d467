;; Sets 10,000 response headers, then asks to end the request.
;; Hostile test guest for picket's WASM host. Requests without an
;; x-hostile header pass (next=1), so that a test can check the host
;; recovers. Build: wat2wasm headers.wat -o headers.wasm (scripts/build-wasm).
(module
  (import "http_handler" "get_header_values"
    (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "add_header_value"
    (func $add_header_value (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  ;; triggered: only requests carrying an x-hostile header misbehave
  (func $triggered (result i32)
    (i64.ne
      (i64.shr_u
        (call $get_header_values (i32.const 0) (i32.const 16) (i32.const 9)
          (i32.const 1024) (i32.const 256))
        (i64.const 32))
      (i64.const 0)))
  (func (export "handle_response") (param i32 i32))
  (data (i32.const 16) "x-hostile")
  (data (i32.const 32) "x-h")
  (data (i32.const 48) "v")
  (func (export "handle_request") (result i64)
    (local $i i32)
    (if (call $triggered)
      (then
        (local.set $i (i32.const 0))
        (loop $more
          (call $add_header_value (i32.const 1) (i32.const 32) (i32.const 3)
            (i32.const 48) (i32.const 1))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 10000))))
        (return (i64.const 0))))
    (i64.const 1))
)
