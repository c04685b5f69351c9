(build-machine
  (name "a")
  user "bob")
