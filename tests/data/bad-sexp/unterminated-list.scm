;; the last machine is not closed
(list (build-machine (name "a") (user "b"))
      (build-machine (name "c") (user "d")
