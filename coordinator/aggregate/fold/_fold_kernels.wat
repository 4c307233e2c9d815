;; The coordinator's hot loops over updates, in WebAssembly SIMD: folding an
;; f32 update into f64 accumulators, checking values (finite, sum of squares)
;; and dequantizing int8 chunks. The module owns its memory; JS copies each
;; chunk of an update into it (that copy is the f32 decode) and calls these.
;; Built into _fold_kernels_wasm.ts by `deno task build-kernels`.
;;
;; fold and dequantizeInt8 do per value the same IEEE operations, in the same
;; order, as the JavaScript references (accumulate64, dequantizeInt8), so the
;; results are bit for bit the same; check sums the squares in four f64
;; lanes, so its sum differs from a sequential one in the last bits only.
(module
  (memory (export "memory") 1)
  ;; What check adds its squares to (the caller zeroes it per update).
  (global $squares (export "squares") (mut f64) (f64.const 0))

;; acc[i] = acc[i] + w * src[i] for i < n: acc f64 at byte $acc, src f32 at
  ;; byte $src (both 16-byte aligned for speed, not for correctness). Two f32
  ;; at a time are loaded and widened to one f64x2, eight values a turn.
  (func (export "fold") (param $acc i32) (param $src i32) (param $n i32) (param $w f64)
    (local $end i32) (local $stop i32) (local $wv v128)
    (local.set $wv (f64x2.splat (local.get $w)))
    ;; $stop: where the last whole group of 8 values starts; $end: after the last value.
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $stop
      (i32.add (local.get $src)
        (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $eight
        (br_if $done (i32.ge_u (local.get $src) (local.get $stop)))
        (v128.store (local.get $acc)
          (f64x2.add (v128.load (local.get $acc))
            (f64x2.mul (local.get $wv)
              (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $src))))))
        (v128.store offset=16 (local.get $acc)
          (f64x2.add (v128.load offset=16 (local.get $acc))
            (f64x2.mul (local.get $wv)
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $src))))))
        (v128.store offset=32 (local.get $acc)
          (f64x2.add (v128.load offset=32 (local.get $acc))
            (f64x2.mul (local.get $wv)
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $src))))))
        (v128.store offset=48 (local.get $acc)
          (f64x2.add (v128.load offset=48 (local.get $acc))
            (f64x2.mul (local.get $wv)
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $src))))))
        (local.set $acc (i32.add (local.get $acc) (i32.const 64)))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (br $eight)))
    (block $tail
      (loop $one
        (br_if $tail (i32.ge_u (local.get $src) (local.get $end)))
        (f64.store (local.get $acc)
          (f64.add (f64.load (local.get $acc))
            (f64.mul (local.get $w) (f64.promote_f32 (f32.load (local.get $src))))))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $one))))

  ;; Checks n f32 values at byte $src: returns the index of the first one that
  ;; is not finite (NaN or an infinity), or -1 when all are finite, and then
  ;; adds the sum of their squares (in f64) to $squares.
  (func (export "check") (param $src i32) (param $n i32) (result i32)
    (local $i i32) (local $stop i32) (local $x v128) (local $bad v128)
    (local $s0 v128) (local $s1 v128) (local $p v128) (local $bits i32)
    (local.set $stop (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $four
        (br_if $done (i32.ge_u (local.get $i) (local.get $stop)))
        (local.set $x (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
        ;; Not finite: every exponent bit set.
        (local.set $bad
          (v128.or (local.get $bad)
            (i32x4.eq (v128.and (local.get $x) (i32x4.splat (i32.const 0x7f800000)))
              (i32x4.splat (i32.const 0x7f800000)))))
        (local.set $p (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p
          (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
        (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $four)))
    (block $tail
      (loop $one
        (br_if $tail (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $bits (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
        (if (i32.eq (i32.and (local.get $bits) (i32.const 0x7f800000)) (i32.const 0x7f800000))
          (then (local.set $bad (i32x4.splat (i32.const -1)))))
        (local.set $p (f64x2.splat (f64.promote_f32 (f32.reinterpret_i32 (local.get $bits)))))
        ;; One lane only, so the tail value is counted once.
        (local.set $s0
          (f64x2.replace_lane 0 (local.get $s0)
            (f64.add (f64x2.extract_lane 0 (local.get $s0))
              (f64.mul (f64x2.extract_lane 0 (local.get $p)) (f64x2.extract_lane 0 (local.get $p))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (if (v128.any_true (local.get $bad))
      (then
        ;; Find the first one, value by value.
        (local.set $i (i32.const 0))
        (loop $find
          (if (i32.eq
                (i32.and
                  (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
                  (i32.const 0x7f800000))
                (i32.const 0x7f800000))
            (then (return (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $find))))
    (global.set $squares
      (f64.add (global.get $squares)
        (f64.add
          (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0)))
          (f64.add (f64x2.extract_lane 0 (local.get $s1)) (f64x2.extract_lane 1 (local.get $s1))))))
    (i32.const -1))

  ;; out[i] = f32(s * (f64(q[i]) - zp)) for i < n: q int8 at byte $q, out f32
  ;; at byte $out, as dequantizeInt8 computes it (in f64, then rounded once).
  (func (export "dequantizeInt8")
    (param $q i32) (param $out i32) (param $n i32) (param $s f64) (param $zp f64)
    (local $i i32) (local $stop i32) (local $x v128) (local $sv v128) (local $zv v128)
    (local $lo v128) (local $hi v128)
    (local.set $sv (f64x2.splat (local.get $s)))
    (local.set $zv (f64x2.splat (local.get $zp)))
    (local.set $stop (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $four
        (br_if $done (i32.ge_u (local.get $i) (local.get $stop)))
        ;; Four int8 to four i32, then two f64x2.
        (local.set $x
          (i32x4.extend_low_i16x8_s
            (i16x8.extend_low_i8x16_s
              (v128.load32_zero (i32.add (local.get $q) (local.get $i))))))
        (local.set $lo
          (f64x2.mul (local.get $sv)
            (f64x2.sub (f64x2.convert_low_i32x4_s (local.get $x)) (local.get $zv))))
        (local.set $hi
          (f64x2.mul (local.get $sv)
            (f64x2.sub
              (f64x2.convert_low_i32x4_s
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))
              (local.get $zv))))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo))
            (f32x4.demote_f64x2_zero (local.get $hi))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $four)))
    (block $tail
      (loop $one
        (br_if $tail (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (f32.demote_f64
            (f64.mul (local.get $s)
              (f64.sub (f64.convert_i32_s (i32.load8_s (i32.add (local.get $q) (local.get $i))))
                (local.get $zp)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))))
