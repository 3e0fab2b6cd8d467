;; Test guest whose handle_request has the wrong signature (returns i32,
;; the ABI says i64): the host must refuse to load it.
;; Build: wat2wasm badsig.wat -o badsig.wasm (scripts/build-wasm).
(module
  (memory (export "memory") 1)
  (func (export "handle_request") (result i32) (i32.const 1))
  (func (export "handle_response") (param i32 i32))
)
