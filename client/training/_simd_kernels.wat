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
        (local.set $c (f64.convert_i32_s (i32.trunc_f64_s (local.get $t))))
        (local.set $s2 (f64.sub (local.get $t) (local.get $c)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (f32.div
            (f32.floor (f32.add (f32.demote_f64 (local.get $s2)) (local.get $keep)))
            (local.get $keep)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
