;; Kernels over the tfjs wasm backend's own heap (the memory is imported from
;; it), in WebAssembly SIMD, four float32 lanes at a time. Built into
;; client/training/_simd_kernels_wasm.ts by `deno task build-kernels`.
;;
;; Every operation is one IEEE float32 operation in the order tfjs's own ops
;; run them, so the results are bit for bit those of the unfused ops.
(module
  (import "env" "memory" (memory 1))

  ;; One Adam step over n values, as tf.train.adam runs it:
  ;;   m' = m * b1 + g * c1                      (c1 = 1 - b1)
  ;;   v' = v * b2 + (g * g) * c2                (c2 = 1 - b2)
  ;;   w' = ((m' / bc1) / (sqrt(v' / bc2) + eps)) * nlr + w
  ;; with bc1 = 1 - b1^t, bc2 = 1 - b2^t and nlr = -learning rate. m and v are
  ;; updated in place; w' goes to out. Pointers are byte offsets.
  (func (export "adam")
    (param $w i32) (param $g i32) (param $m i32) (param $v i32) (param $out i32)
    (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $bc1 f32) (param $bc2 f32) (param $eps f32) (param $nlr f32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $four
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o)))
              (f32x4.splat (local.get $b1)))
            (f32x4.mul (local.get $gv) (f32x4.splat (local.get $c1)))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o)))
              (f32x4.splat (local.get $b2)))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv))
              (f32x4.splat (local.get $c2)))))
        (v128.store (i32.add (local.get $m) (local.get $o)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $o)) (local.get $vv))
        (v128.store (i32.add (local.get $out) (local.get $o))
          (f32x4.add
            (f32x4.mul
              (f32x4.div
                (f32x4.div (local.get $mv) (f32x4.splat (local.get $bc1)))
                (f32x4.add
                  (f32x4.sqrt (f32x4.div (local.get $vv) (f32x4.splat (local.get $bc2))))
                  (f32x4.splat (local.get $eps))))
              (f32x4.splat (local.get $nlr)))
            (v128.load (i32.add (local.get $w) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $four)))
    (block $tail_done
      (loop $one
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
            (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $m) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $o)) (local.get $vs))
        (f32.store (i32.add (local.get $out) (local.get $o))
          (f32.add
            (f32.mul
              (f32.div
                (f32.div (local.get $ms) (local.get $bc1))
                (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $bc2))) (local.get $eps)))
              (local.get $nlr))
            (f32.load (i32.add (local.get $w) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one))))

  ;; tf.dropout's multiplier for n values: floor(u + keep) / keep, where u is
  ;; tfjs's uniform draw: seedrandom's Alea generator (float64, state s0, s1,
  ;; s2, c as Alea's seeding left it), each value rounded to float32. The same
  ;; seed gives the same multipliers as tfjs's dropout, in one pass.
  (func (export "dropoutMultiplier")
    (param $out i32) (param $n i32)
    (param $s0 f64) (param $s1 f64) (param $s2 f64) (param $c f64) (param $keep f32)
    (local $i i32) (local $t f64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $t
          (f64.add
            (f64.mul (f64.const 2091639) (local.get $s0))
            (f64.mul (local.get $c) (f64.const 2.3283064365386963e-10))))
        (local.set $s0 (local.get $s1))
        (local.set $s1 (local.get $s2))
        ;; Alea's c = t | 0: t is positive and below 2^31, so a float trunc
        ;; (no round trip through an integer) gives the same value.
        (local.set $c (f64.trunc (local.get $t)))
        (local.set $s2 (f64.sub (local.get $t) (local.get $c)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (f32.div
            (f32.floor (f32.add (f32.demote_f64 (local.get $s2)) (local.get $keep)))
            (local.get $keep)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; ---- The transformer's kernels (client/training/_fused_norm_gelu.ts and
  ;; _fused_attention.ts). Unlike the two above they are not bit for bit
  ;; tfjs's ops (sums run in another order, tanh and exp are polynomials), but
  ;; within a few float32 ulps of them.

  ;; The sum of a vector's four lanes.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; The largest of a vector's four lanes.
  (func $hmax (param $v v128) (result f32)
    (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.max (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; Layer norm over rows of d values (d a multiple of 4), eps inside the root:
  ;;   out = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps)
  ;; with each row's mean and rstd written to stats (two floats a row).
  (func (export "layerNormForward")
    (param $x i32) (param $gamma i32) (param $beta i32) (param $out i32) (param $stats i32)
    (param $rows i32) (param $d i32) (param $eps f32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $px i32) (local $po i32)
    (local $acc v128) (local $t v128) (local $mean f32) (local $rstd f32)
    (local $mv v128) (local $rv v128)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $px (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $bytes))))
        (local.set $po (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $bytes))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $acc
              (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $px) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $s)))
        (local.set $mean
          (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $d))))
        (local.set $mv (f32x4.splat (local.get $mean)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $v_done
          (loop $v
            (br_if $v_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $t
              (f32x4.sub (v128.load (i32.add (local.get $px) (local.get $j))) (local.get $mv)))
            (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $t) (local.get $t))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $v)))
        (local.set $rstd
          (f32.div (f32.const 1)
            (f32.sqrt
              (f32.add
                (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $d)))
                (local.get $eps)))))
        (local.set $rv (f32x4.splat (local.get $rstd)))
        (local.set $j (i32.const 0))
        (block $o_done
          (loop $o
            (br_if $o_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (v128.store (i32.add (local.get $po) (local.get $j))
              (f32x4.add
                (f32x4.mul
                  (f32x4.mul
                    (f32x4.sub (v128.load (i32.add (local.get $px) (local.get $j))) (local.get $mv))
                    (local.get $rv))
                  (v128.load (i32.add (local.get $gamma) (local.get $j))))
                (v128.load (i32.add (local.get $beta) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $o)))
        (f32.store (i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 3)))
          (local.get $mean))
        (f32.store offset=4 (i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 3)))
          (local.get $rstd))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))

  ;; The gradients of layerNormForward, from its stats: with xh = (x - mean) rstd
  ;; and g = dy gamma, dx = rstd (g - mean(g) - xh mean(g xh)); dgamma and dbeta
  ;; (d values each) are the sums over rows of dy xh and dy.
  (func (export "layerNormBackward")
    (param $dy i32) (param $x i32) (param $gamma i32) (param $stats i32) (param $dx i32)
    (param $dgamma i32) (param $dbeta i32) (param $rows i32) (param $d i32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $row i32)
    (local $mv v128) (local $rv v128) (local $xh v128) (local $g v128) (local $dyv v128)
    (local $sa v128) (local $sb v128) (local $av v128) (local $bv v128) (local $inv f32)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $d))))
    (local.set $j (i32.const 0))
    (block $z_done
      (loop $z
        (br_if $z_done (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store (i32.add (local.get $dgamma) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (v128.store (i32.add (local.get $dbeta) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $z)))
    (block $done
      (loop $rowloop
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.mul (local.get $r) (local.get $bytes)))
        (local.set $mv
          (f32x4.splat (f32.load (i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 3))))))
        (local.set $rv
          (f32x4.splat
            (f32.load offset=4 (i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 3))))))
        (local.set $sa (v128.const f32x4 0 0 0 0))
        (local.set $sb (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $p_done
          (loop $p
            (br_if $p_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $xh
              (f32x4.mul
                (f32x4.sub
                  (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j))))
                  (local.get $mv))
                (local.get $rv)))
            (local.set $dyv (v128.load (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))))
            (local.set $g (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $gamma) (local.get $j)))))
            (local.set $sa (f32x4.add (local.get $sa) (local.get $g)))
            (local.set $sb (f32x4.add (local.get $sb) (f32x4.mul (local.get $g) (local.get $xh))))
            (v128.store (i32.add (local.get $dgamma) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $dgamma) (local.get $j)))
                (f32x4.mul (local.get $dyv) (local.get $xh))))
            (v128.store (i32.add (local.get $dbeta) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $dbeta) (local.get $j))) (local.get $dyv)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $p)))
        (local.set $av (f32x4.splat (f32.mul (call $hsum (local.get $sa)) (local.get $inv))))
        (local.set $bv (f32x4.splat (f32.mul (call $hsum (local.get $sb)) (local.get $inv))))
        (local.set $j (i32.const 0))
        (block $q_done
          (loop $q
            (br_if $q_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $xh
              (f32x4.mul
                (f32x4.sub
                  (v128.load (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j))))
                  (local.get $mv))
                (local.get $rv)))
            (local.set $g
              (f32x4.mul
                (v128.load (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j))))
                (v128.load (i32.add (local.get $gamma) (local.get $j)))))
            (v128.store (i32.add (local.get $dx) (i32.add (local.get $row) (local.get $j)))
              (f32x4.mul (local.get $rv)
                (f32x4.sub (f32x4.sub (local.get $g) (local.get $av))
                  (f32x4.mul (local.get $xh) (local.get $bv)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $q)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowloop))))

  ;; tanh, Eigen's rational approximation (odd degree 13 over even degree 6 on
  ;; [-7.9, 7.9], clamped outside; within a few ulps), four lanes.
  (func $tanh4 (param $x v128) (result v128)
    (local $c v128) (local $x2 v128) (local $p v128) (local $q v128)
    (local.set $c
      (f32x4.max (f32x4.min (local.get $x) (v128.const f32x4 7.90531110763549805 7.90531110763549805 7.90531110763549805 7.90531110763549805))
        (v128.const f32x4 -7.90531110763549805 -7.90531110763549805 -7.90531110763549805 -7.90531110763549805)))
    (local.set $x2 (f32x4.mul (local.get $c) (local.get $c)))
    (local.set $p
      (f32x4.add (f32x4.mul (local.get $x2) (v128.const f32x4 -2.76076847742355e-16 -2.76076847742355e-16 -2.76076847742355e-16 -2.76076847742355e-16))
        (v128.const f32x4 2.00018790482477e-13 2.00018790482477e-13 2.00018790482477e-13 2.00018790482477e-13)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p))
      (v128.const f32x4 -8.60467152213735e-11 -8.60467152213735e-11 -8.60467152213735e-11 -8.60467152213735e-11)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p))
      (v128.const f32x4 5.12229709037114e-08 5.12229709037114e-08 5.12229709037114e-08 5.12229709037114e-08)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p))
      (v128.const f32x4 1.48572235717979e-05 1.48572235717979e-05 1.48572235717979e-05 1.48572235717979e-05)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p))
      (v128.const f32x4 6.37261928875436e-04 6.37261928875436e-04 6.37261928875436e-04 6.37261928875436e-04)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p))
      (v128.const f32x4 4.89352455891786e-03 4.89352455891786e-03 4.89352455891786e-03 4.89352455891786e-03)))
    (local.set $p (f32x4.mul (local.get $c) (local.get $p)))
    (local.set $q
      (f32x4.add (f32x4.mul (local.get $x2) (v128.const f32x4 1.19825839466702e-06 1.19825839466702e-06 1.19825839466702e-06 1.19825839466702e-06))
        (v128.const f32x4 1.18534705686654e-04 1.18534705686654e-04 1.18534705686654e-04 1.18534705686654e-04)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $x2) (local.get $q))
      (v128.const f32x4 2.26843463243900e-03 2.26843463243900e-03 2.26843463243900e-03 2.26843463243900e-03)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $x2) (local.get $q))
      (v128.const f32x4 4.89352518554385e-03 4.89352518554385e-03 4.89352518554385e-03 4.89352518554385e-03)))
    (f32x4.div (local.get $p) (local.get $q)))

  ;; GELU (tanh) of four values: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  (func $gelu4 (param $x v128) (result v128)
    (f32x4.mul
      (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $x))
      (f32x4.add (v128.const f32x4 1 1 1 1)
        (call $tanh4
          (f32x4.mul (v128.const f32x4 0.7978845608028654 0.7978845608028654 0.7978845608028654 0.7978845608028654)
            (f32x4.add (local.get $x)
              (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715)
                (f32x4.mul (local.get $x) (f32x4.mul (local.get $x) (local.get $x))))))))))

  ;; GELU's derivative times dy, four values:
  ;; dy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2)).
  (func $geluGrad4 (param $x v128) (param $dy v128) (result v128)
    (local $x2 v128) (local $t v128)
    (local.set $x2 (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $t
      (call $tanh4
        (f32x4.mul (v128.const f32x4 0.7978845608028654 0.7978845608028654 0.7978845608028654 0.7978845608028654)
          (f32x4.add (local.get $x)
            (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715)
              (f32x4.mul (local.get $x) (local.get $x2)))))))
    (f32x4.mul (local.get $dy)
      (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5)
        (f32x4.add
          (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $t))
          (f32x4.mul
            (f32x4.mul (local.get $x)
              (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $t) (local.get $t))))
            (f32x4.mul (v128.const f32x4 0.7978845608028654 0.7978845608028654 0.7978845608028654 0.7978845608028654)
              (f32x4.add (v128.const f32x4 1 1 1 1)
                (f32x4.mul (v128.const f32x4 0.134145 0.134145 0.134145 0.134145) (local.get $x2)))))))))

  ;; GELU (tanh) of n values.
  (func (export "geluForward") (param $x i32) (param $out i32) (param $n i32)
    (local $o i32) (local $end i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end (i32.and (local.get $bytes) (i32.const -16)))
    (block $done
      (loop $four
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (v128.store (i32.add (local.get $out) (local.get $o))
          (call $gelu4 (v128.load (i32.add (local.get $x) (local.get $o)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $four)))
    (block $tail_done
      (loop $one
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $bytes)))
        (f32.store (i32.add (local.get $out) (local.get $o))
          (f32x4.extract_lane 0
            (call $gelu4 (v128.load32_splat (i32.add (local.get $x) (local.get $o))))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $one))))

  ;; dx = dy * GELU'(x) over n values.
  (func (export "geluBackward") (param $x i32) (param $dy i32) (param $dx i32) (param $n i32)
    (local $o i32) (local $end i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end (i32.and (local.get $bytes) (i32.const -16)))
    (block $done
      (loop $four
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (v128.store (i32.add (local.get $dx) (local.get $o))
          (call $geluGrad4 (v128.load (i32.add (local.get $x) (local.get $o)))
            (v128.load (i32.add (local.get $dy) (local.get $o)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $four)))
    (block $tail_done
      (loop $one
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $bytes)))
        (f32.store (i32.add (local.get $dx) (local.get $o))
          (f32x4.extract_lane 0
            (call $geluGrad4 (v128.load32_splat (i32.add (local.get $x) (local.get $o)))
              (v128.load32_splat (i32.add (local.get $dy) (local.get $o))))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $one))))
)
