;; Declares far more initial memory than the host allows: the host must
;; refuse to load it instead of reserving the memory.
;; Build: wat2wasm membomb_static.wat -o membomb_static.wasm (scripts/build-wasm).
(module
  (memory (export "memory") 60000)
  (func (export "handle_request") (result i64) (i64.const 1))
  (func (export "handle_response") (param i32 i32))
)
