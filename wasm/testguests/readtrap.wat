;; A test guest that reads 4 bytes of the request body and then traps: under
;; fail_open the next handler must still receive the whole body.
(module
  (import "http_handler" "read_body" (func $read_body (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "handle_response") (param i32 i32))
  (func (export "handle_request") (result i64)
    (drop (call $read_body (i32.const 0) (i32.const 64) (i32.const 4)))
    unreachable)
)
