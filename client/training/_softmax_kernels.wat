;; Softmax kernels over the tfjs wasm backend's own heap (the memory is
;; imported from it), in WebAssembly SIMD: attention's masked softmax and its
;; gradient (client/training/_fused_attention.ts), and the R-Drop loss over
;; the twins' logits with its gradient (client/training/_fused_rdrop_loss.ts). Built into
;; client/training/_softmax_kernels_wasm.ts by `deno task build-kernels`.
;; Pointers are byte offsets; sizes count float32 values.
(module
  (import "env" "memory" (memory 1))

  ;; The sum and the largest of a vector's four lanes.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
  (func $hmax (param $v v128) (result f32)
    (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.max (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; exp of four values (Cephes' expf: x = n ln2 + r, a degree-6 polynomial in
  ;; r, times 2^n; within 2 ulps); exactly 0 below -87.
  (func $exp4 (param $x v128) (result v128)
    (local $c v128) (local $n v128) (local $r v128) (local $p v128)
    (local.set $c
      (f32x4.max (f32x4.min (local.get $x) (v128.const f32x4 88 88 88 88))
        (v128.const f32x4 -87 -87 -87 -87)))
    (local.set $n
      (f32x4.nearest
        (f32x4.mul (local.get $c) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
    (local.set $r
      (f32x4.sub
        (f32x4.sub (local.get $c)
          (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
        (f32x4.mul (local.get $n) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p
      (f32x4.add
        (f32x4.mul (local.get $r) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
        (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p
      (f32x4.add
        (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $r)) (local.get $r)) (local.get $r))
        (v128.const f32x4 1 1 1 1)))
    (v128.bitselect
      (f32x4.mul (local.get $p)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127))
          (i32.const 23)))
      (v128.const f32x4 0 0 0 0)
      (f32x4.ge (local.get $x) (v128.const f32x4 -87 -87 -87 -87))))

  ;; The columns of row i a softmax pass covers, in bytes: all t, or with
  ;; mode 2 (causal, the upper triangle skipped) those before the first
  ;; multiple of 4 above i.
  (func $rowEnd (param $i i32) (param $t i32) (param $mode i32) (result i32)
    (i32.shl
      (select (i32.and (i32.add (local.get $i) (i32.const 4)) (i32.const -4)) (local.get $t)
        (i32.eq (local.get $mode) (i32.const 2)))
      (i32.const 2)))

  ;; The attention probabilities of one head, t x t (t a multiple of 4), from
  ;; the raw scores s = q kᵀ, as the layer computes them:
  ;;   p = softmax(s * scale + causal * -1e9 + pad * -1e9)
  ;; mode 0: no causal mask; 1: causal; 2: causal, and no row is all masked,
  ;; so only the columns j <= i are read (the rest of p is 0). pad: 0 for
  ;; none, else t values, 1 where the key is padding.
  (func (export "softmaxRows")
    (param $s i32) (param $out i32) (param $pad i32) (param $t i32) (param $scale f32) (param $mode i32)
    (local $i i32) (local $j i32) (local $row i32) (local $end i32) (local $v v128)
    (local $mx v128) (local $sum v128) (local $maxv v128) (local $sumv v128) (local $idx v128)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $t)))
        (local.set $row (i32.shl (i32.mul (local.get $i) (local.get $t)) (i32.const 2)))
        (local.set $end (call $rowEnd (local.get $i) (local.get $t) (local.get $mode)))
        (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $j (i32.const 0))
        (block $a_done
          (loop $a
            (br_if $a_done (i32.ge_u (local.get $j) (local.get $end)))
            (local.set $v
              (f32x4.mul (v128.load (i32.add (local.get $s) (i32.add (local.get $row) (local.get $j))))
                (f32x4.splat (local.get $scale))))
            (if (local.get $mode)
              (then
                (local.set $idx
                  (i32x4.add (i32x4.splat (i32.shr_u (local.get $j) (i32.const 2)))
                    (v128.const i32x4 0 1 2 3)))
                (local.set $v
                  (f32x4.add (local.get $v)
                    (v128.and (v128.const f32x4 -1e9 -1e9 -1e9 -1e9)
                      (i32x4.gt_s (local.get $idx) (i32x4.splat (local.get $i))))))))
            (if (local.get $pad)
              (then
                (local.set $v
                  (f32x4.add (local.get $v)
                    (f32x4.mul (v128.load (i32.add (local.get $pad) (local.get $j)))
                      (v128.const f32x4 -1e9 -1e9 -1e9 -1e9))))))
            (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j))) (local.get $v))
            (local.set $mx (f32x4.max (local.get $mx) (local.get $v)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $a)))
        (local.set $maxv (f32x4.splat (call $hmax (local.get $mx))))
        (local.set $sum (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $b_done
          (loop $b
            (br_if $b_done (i32.ge_u (local.get $j) (local.get $end)))
            (local.set $v
              (call $exp4
                (f32x4.sub (v128.load (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j))))
                  (local.get $maxv))))
            (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j))) (local.get $v))
            (local.set $sum (f32x4.add (local.get $sum) (local.get $v)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $b)))
        (local.set $sumv (f32x4.splat (call $hsum (local.get $sum))))
        (local.set $j (i32.const 0))
        (block $c_done
          (loop $c
            (br_if $c_done (i32.ge_u (local.get $j) (local.get $end)))
            (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j)))
              (f32x4.div (v128.load (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j))))
                (local.get $sumv)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $c)))
        (block $z_done
          (loop $z
            (br_if $z_done (i32.ge_u (local.get $j) (i32.shl (local.get $t) (i32.const 2))))
            (v128.store (i32.add (local.get $out) (i32.add (local.get $row) (local.get $j)))
              (v128.const f32x4 0 0 0 0))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $z)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; The gradient of softmaxRows (one head, t x t), in place: g holds the
  ;; gradient of the probabilities after dropout, mult the dropout's
  ;; multiplier (0 for none), p the probabilities. Writes
  ;;   g = p * (dp - sum_j dp p) * scale,  dp = g * mult,
  ;; mode as in softmaxRows (with 2 the columns past a row's end get 0).
  (func (export "softmaxRowsBackward")
    (param $p i32) (param $mult i32) (param $g i32) (param $t i32) (param $scale f32) (param $mode i32)
    (local $i i32) (local $j i32) (local $row i32) (local $end i32) (local $v v128)
    (local $dot v128) (local $dotv v128) (local $at i32)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $t)))
        (local.set $row (i32.shl (i32.mul (local.get $i) (local.get $t)) (i32.const 2)))
        (local.set $end (call $rowEnd (local.get $i) (local.get $t) (local.get $mode)))
        (local.set $dot (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $a_done
          (loop $a
            (br_if $a_done (i32.ge_u (local.get $j) (local.get $end)))
            (local.set $at (i32.add (local.get $row) (local.get $j)))
            (local.set $v (v128.load (i32.add (local.get $g) (local.get $at))))
            (if (local.get $mult)
              (then
                (local.set $v (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $mult) (local.get $at)))))
                (v128.store (i32.add (local.get $g) (local.get $at)) (local.get $v))))
            (local.set $dot
              (f32x4.add (local.get $dot)
                (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $p) (local.get $at))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $a)))
        (local.set $dotv (f32x4.splat (call $hsum (local.get $dot))))
        (local.set $j (i32.const 0))
        (block $b_done
          (loop $b
            (br_if $b_done (i32.ge_u (local.get $j) (local.get $end)))
            (local.set $at (i32.add (local.get $row) (local.get $j)))
            (v128.store (i32.add (local.get $g) (local.get $at))
              (f32x4.mul
                (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $at)))
                  (f32x4.sub (v128.load (i32.add (local.get $g) (local.get $at))) (local.get $dotv)))
                (f32x4.splat (local.get $scale))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $b)))
        (block $z_done
          (loop $z
            (br_if $z_done (i32.ge_u (local.get $j) (i32.shl (local.get $t) (i32.const 2))))
            (v128.store (i32.add (local.get $g) (i32.add (local.get $row) (local.get $j)))
              (v128.const f32x4 0 0 0 0))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $z)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; For each of rows rows of v logits (v a multiple of 4): the largest and
  ;; the sum of exp(x - largest), to stats (two floats a row).
  (func (export "rowMaxSumExp") (param $x i32) (param $stats i32) (param $rows i32) (param $v i32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $px i32) (local $mx v128)
    (local $sum v128) (local $maxv v128)
    (local.set $bytes (i32.shl (local.get $v) (i32.const 2)))
    (local.set $px (local.get $x))
    (block $done
      (loop $rl
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $j (i32.const 0))
        (block $a_done
          (loop $a
            (br_if $a_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $mx (f32x4.max (local.get $mx) (v128.load (i32.add (local.get $px) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $a)))
        (local.set $maxv (f32x4.splat (call $hmax (local.get $mx))))
        (local.set $sum (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $b_done
          (loop $b
            (br_if $b_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $sum
              (f32x4.add (local.get $sum)
                (call $exp4
                  (f32x4.sub (v128.load (i32.add (local.get $px) (local.get $j))) (local.get $maxv)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $b)))
        (f32.store (i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 3)))
          (f32x4.extract_lane 0 (local.get $maxv)))
        (f32.store offset=4 (i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 3)))
          (call $hsum (local.get $sum)))
        (local.set $px (i32.add (local.get $px) (local.get $bytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))

  ;; The R-Drop terms of n positions: row r of x (v logits) is the first
  ;; twin's, row r + n the second's, lse each row's log-sum-exp, so that
  ;; log p = x - lse. Writes kl[r] = 0.5 sum (p1 - p2)(log p1 - log p2) and
  ;; ce[r] = -0.5 (log p1[y] + log p2[y]), y = max(label[r], 0) (int32).
  (func (export "rdropRows")
    (param $x i32) (param $lse i32) (param $labels i32) (param $kl i32) (param $ce i32)
    (param $n i32) (param $v i32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $pa i32) (local $pb i32) (local $y i32)
    (local $l1 v128) (local $l2 v128) (local $la v128) (local $lb v128) (local $acc v128)
    (local.set $bytes (i32.shl (local.get $v) (i32.const 2)))
    (block $done
      (loop $rl
        (br_if $done (i32.ge_u (local.get $r) (local.get $n)))
        (local.set $pa (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $bytes))))
        (local.set $pb
          (i32.add (local.get $pa) (i32.mul (local.get $n) (local.get $bytes))))
        (local.set $l1 (v128.load32_splat (i32.add (local.get $lse) (i32.shl (local.get $r) (i32.const 2)))))
        (local.set $l2
          (v128.load32_splat
            (i32.add (local.get $lse) (i32.shl (i32.add (local.get $r) (local.get $n)) (i32.const 2)))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $a_done
          (loop $a
            (br_if $a_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $la (f32x4.sub (v128.load (i32.add (local.get $pa) (local.get $j))) (local.get $l1)))
            (local.set $lb (f32x4.sub (v128.load (i32.add (local.get $pb) (local.get $j))) (local.get $l2)))
            (local.set $acc
              (f32x4.add (local.get $acc)
                (f32x4.mul (f32x4.sub (call $exp4 (local.get $la)) (call $exp4 (local.get $lb)))
                  (f32x4.sub (local.get $la) (local.get $lb)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $a)))
        (f32.store (i32.add (local.get $kl) (i32.shl (local.get $r) (i32.const 2)))
          (f32.mul (f32.const 0.5) (call $hsum (local.get $acc))))
        (local.set $y (i32.load (i32.add (local.get $labels) (i32.shl (local.get $r) (i32.const 2)))))
        (if (i32.lt_s (local.get $y) (i32.const 0)) (then (local.set $y (i32.const 0))))
        (local.set $y (i32.shl (local.get $y) (i32.const 2)))
        (f32.store (i32.add (local.get $ce) (i32.shl (local.get $r) (i32.const 2)))
          (f32.mul (f32.const -0.5)
            (f32.add
              (f32.sub (f32.load (i32.add (local.get $pa) (local.get $y))) (f32x4.extract_lane 0 (local.get $l1)))
              (f32.sub (f32.load (i32.add (local.get $pb) (local.get $y))) (f32x4.extract_lane 0 (local.get $l2))))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))

  ;; The gradient of sum_r wce[r] ce[r] + wkl[r] kl[r] (times dy) in the
  ;; logits, to dx (the layout of x), with l = log p1 - log p2:
  ;;   dx1 = wkl 0.5 (p1 (l - E_p1[l]) + p1 - p2) + wce 0.5 (p1 - onehot(y))
  ;;   dx2 = wkl 0.5 (p2 (E_p2[l] - l) + p2 - p1) + wce 0.5 (p2 - onehot(y))
  (func (export "rdropBackward")
    (param $x i32) (param $lse i32) (param $labels i32) (param $wce i32) (param $wkl i32)
    (param $dx i32) (param $n i32) (param $v i32) (param $dy f32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $pa i32) (local $pb i32) (local $y i32)
    (local $da i32) (local $db i32) (local $l1 v128) (local $l2 v128) (local $la v128) (local $lb v128)
    (local $p1 v128) (local $p2 v128) (local $l v128) (local $e1 v128) (local $e2 v128)
    (local $k v128) (local $c v128) (local $hot f32)
    (local.set $bytes (i32.shl (local.get $v) (i32.const 2)))
    (block $done
      (loop $rl
        (br_if $done (i32.ge_u (local.get $r) (local.get $n)))
        (local.set $pa (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $bytes))))
        (local.set $pb (i32.add (local.get $pa) (i32.mul (local.get $n) (local.get $bytes))))
        (local.set $da (i32.add (local.get $dx) (i32.mul (local.get $r) (local.get $bytes))))
        (local.set $db (i32.add (local.get $da) (i32.mul (local.get $n) (local.get $bytes))))
        (local.set $l1 (v128.load32_splat (i32.add (local.get $lse) (i32.shl (local.get $r) (i32.const 2)))))
        (local.set $l2
          (v128.load32_splat
            (i32.add (local.get $lse) (i32.shl (i32.add (local.get $r) (local.get $n)) (i32.const 2)))))
        (local.set $e1 (v128.const f32x4 0 0 0 0))
        (local.set $e2 (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $a_done
          (loop $a
            (br_if $a_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $la (f32x4.sub (v128.load (i32.add (local.get $pa) (local.get $j))) (local.get $l1)))
            (local.set $lb (f32x4.sub (v128.load (i32.add (local.get $pb) (local.get $j))) (local.get $l2)))
            (local.set $l (f32x4.sub (local.get $la) (local.get $lb)))
            (local.set $e1 (f32x4.add (local.get $e1) (f32x4.mul (call $exp4 (local.get $la)) (local.get $l))))
            (local.set $e2 (f32x4.add (local.get $e2) (f32x4.mul (call $exp4 (local.get $lb)) (local.get $l))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $a)))
        (local.set $e1 (f32x4.splat (call $hsum (local.get $e1))))
        (local.set $e2 (f32x4.splat (call $hsum (local.get $e2))))
        ;; k = 0.5 dy wkl[r], c = 0.5 dy wce[r]
        (local.set $k
          (f32x4.splat
            (f32.mul (f32.mul (f32.const 0.5) (local.get $dy))
              (f32.load (i32.add (local.get $wkl) (i32.shl (local.get $r) (i32.const 2)))))))
        (local.set $hot
          (f32.mul (f32.mul (f32.const 0.5) (local.get $dy))
            (f32.load (i32.add (local.get $wce) (i32.shl (local.get $r) (i32.const 2))))))
        (local.set $c (f32x4.splat (local.get $hot)))
        (local.set $j (i32.const 0))
        (block $b_done
          (loop $b
            (br_if $b_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $la (f32x4.sub (v128.load (i32.add (local.get $pa) (local.get $j))) (local.get $l1)))
            (local.set $lb (f32x4.sub (v128.load (i32.add (local.get $pb) (local.get $j))) (local.get $l2)))
            (local.set $l (f32x4.sub (local.get $la) (local.get $lb)))
            (local.set $p1 (call $exp4 (local.get $la)))
            (local.set $p2 (call $exp4 (local.get $lb)))
            (v128.store (i32.add (local.get $da) (local.get $j))
              (f32x4.add
                (f32x4.mul (local.get $k)
                  (f32x4.add (f32x4.mul (local.get $p1) (f32x4.sub (local.get $l) (local.get $e1)))
                    (f32x4.sub (local.get $p1) (local.get $p2))))
                (f32x4.mul (local.get $c) (local.get $p1))))
            (v128.store (i32.add (local.get $db) (local.get $j))
              (f32x4.add
                (f32x4.mul (local.get $k)
                  (f32x4.add (f32x4.mul (local.get $p2) (f32x4.sub (local.get $e2) (local.get $l)))
                    (f32x4.sub (local.get $p2) (local.get $p1))))
                (f32x4.mul (local.get $c) (local.get $p2))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $b)))
        (local.set $y (i32.load (i32.add (local.get $labels) (i32.shl (local.get $r) (i32.const 2)))))
        (if (i32.lt_s (local.get $y) (i32.const 0)) (then (local.set $y (i32.const 0))))
        (local.set $y (i32.shl (local.get $y) (i32.const 2)))
        (f32.store (i32.add (local.get $da) (local.get $y))
          (f32.sub (f32.load (i32.add (local.get $da) (local.get $y))) (local.get $hot)))
        (f32.store (i32.add (local.get $db) (local.get $y))
          (f32.sub (f32.load (i32.add (local.get $db) (local.get $y))) (local.get $hot)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))
)
