;; The value must be a list, even of one machine.
(build-machine
 (name "a.example.org")
 (user "offload"))
