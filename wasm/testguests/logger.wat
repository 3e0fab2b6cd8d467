;; Test guest that logs "guest says hello" at level error (2) on every
;; request, if the host says that level is enabled, and passes it on.
;; Build: wat2wasm logger.wat -o logger.wasm (scripts/build-wasm).
(module
  (import "http_handler" "log_enabled" (func $log_enabled (param i32) (result i32)))
  (import "http_handler" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "guest says hello")
  (func (export "handle_request") (result i64)
    (if (call $log_enabled (i32.const 2))
      (then (call $log (i32.const 2) (i32.const 16) (i32.const 16))))
    (i64.const 1))
  (func (export "handle_response") (param i32 i32))
)
