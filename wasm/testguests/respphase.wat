;; Test guest for the response phase: handle_request passes the request on
;; with request context 7; handle_response traps unless it gets that
;; context back and the next handler answered 200.
;; Build: wat2wasm respphase.wat -o respphase.wasm (scripts/build-wasm).
(module
  (import "http_handler" "get_status_code" (func $get_status_code (result i32)))
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64)
    (i64.or (i64.shl (i64.const 7) (i64.const 32)) (i64.const 1)))
  (func (export "handle_response") (param $ctx i32) (param $is_error i32)
    (if (i32.ne (local.get $ctx) (i32.const 7)) (then unreachable))
    (if (i32.ne (call $get_status_code) (i32.const 200)) (then unreachable)))
)
