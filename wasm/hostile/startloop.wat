;; Spins forever in its start function: the init deadline must stop it and
;; the config load must fail instead of hanging.
;; Build: wat2wasm startloop.wat -o startloop.wasm (scripts/build-wasm).
(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "handle_request") (result i64) (i64.const 1))
  (func (export "handle_response") (param i32 i32))
)
