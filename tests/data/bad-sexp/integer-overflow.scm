(build-machine (name "a")
  (parallel-builds 9223372036854775808))
