(map build-machine (list 1))
