(define x 1)
#| outer
   #| inner |#
   still in the outer comment
