(build-machine
  (name "a")
  (name "b"))
