;; Hands the host a buffer outside its memory, to write and to read.
;; Hostile test guest for picket's WASM host. Requests without an
;; x-hostile header pass (next=1), so that a test can check the host
;; recovers. Build: wat2wasm oob_host.wat -o oob_host.wasm (scripts/build-wasm).
(module
  (import "http_handler" "get_header_values"
    (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "get_uri" (func $get_uri (param i32 i32) (result i32)))
  (import "http_handler" "log" (func $log (param i32 i32 i32)))
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
  (func (export "handle_request") (result i64)
    (if (call $triggered)
      (then
        (drop (call $get_uri (i32.const 0xffffff00) (i32.const 4096)))
        (call $log (i32.const 0) (i32.const 0xffffff00) (i32.const 4096))))
    (i64.const 1))
)
