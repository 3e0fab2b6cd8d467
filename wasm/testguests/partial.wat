;; Test guest that sets the request header x-added: 1 and then, when the
;; request carries x-hostile, traps: the host must not pass the half-made
;; change on under fail_open.
;; Build: wat2wasm partial.wat -o partial.wasm (scripts/build-wasm).
(module
  (import "http_handler" "get_header_values"
    (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "set_header_value"
    (func $set_header_value (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-hostile")
  (data (i32.const 32) "x-added")
  (data (i32.const 48) "1")
  (func (export "handle_request") (result i64)
    (call $set_header_value (i32.const 0) (i32.const 32) (i32.const 7)
      (i32.const 48) (i32.const 1))
    (if (i64.ne
          (i64.shr_u
            (call $get_header_values (i32.const 0) (i32.const 16) (i32.const 9)
              (i32.const 1024) (i32.const 256))
            (i64.const 32))
          (i64.const 0))
      (then unreachable))
    (i64.const 1))
  (func (export "handle_response") (param i32 i32))
)
