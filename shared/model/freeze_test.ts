import assert from "node:assert/strict";
import { layerNames, setTrainable } from "./freeze.ts";
import { mnistCnnTopology } from "../tasks/mnist_cnn.ts";
import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";

interface Layer {
  class_name?: string;
  name?: string;
  config: { name?: string; trainable?: boolean; [key: string]: unknown };
}

/** The layers of a Sequential topology, or of one wrapped in `model_config`. */
function layersOf(topology: Record<string, unknown>): Layer[] {
  const root = (topology.model_config ?? topology) as { config: { layers: Layer[] } | Layer[] };
  return Array.isArray(root.config) ? root.config : root.config.layers;
}

/** `{layer name: trainable}` of a topology. */
function trainableByName(topology: Record<string, unknown>): Record<string, boolean | undefined> {
  return Object.fromEntries(
    layersOf(topology).map((l) => [l.config.name ?? l.name ?? "", l.config.trainable]),
  );
}

/** A Keras-converted model.json's modelTopology: the model under `model_config`. */
function kerasWrapped(): Record<string, unknown> {
  return {
    keras_version: "2.15.0",
    backend: "tensorflow",
    model_config: structuredClone(mnistMlpTopology()),
    training_config: { loss: "categorical_crossentropy" },
  };
}

Deno.test("layerNames() lists the top-level layers of a Sequential topology in order", () => {
  assert.deepEqual(layerNames(mnistMlpTopology()), [
    "dense1",
    "dropout1",
    "dense2",
    "dropout2",
    "logits",
  ]);
  assert.deepEqual(layerNames(mnistMlpTopology({ hidden: [8] })), ["dense1", "dropout1", "logits"]);
});

Deno.test("layerNames() reads a topology under the Keras model_config wrapper", () => {
  assert.deepEqual(layerNames(kerasWrapped()), layerNames(mnistMlpTopology()));
});

Deno.test("layerNames() reads a legacy topology whose config is the layer list", () => {
  const legacy = {
    class_name: "Sequential",
    config: [{ class_name: "Dense", config: { name: "a" } }],
  };
  assert.deepEqual(layerNames(legacy), ["a"]);
});

Deno.test("layerNames() falls back to the entry's name in a functional topology", () => {
  const functional = {
    class_name: "Model",
    config: {
      name: "m",
      layers: [
        { class_name: "InputLayer", name: "in", config: {} },
        { class_name: "Dense", name: "out", config: { name: "out" } },
      ],
    },
  };
  assert.deepEqual(layerNames(functional), ["in", "out"]);
});

Deno.test("layerNames() returns nothing for a topology without layers", () => {
  assert.deepEqual(layerNames({}), []);
});

Deno.test("setTrainable() freezes exactly the named layers", () => {
  const out = setTrainable(mnistMlpTopology(), { frozen: ["dense1"] });
  assert.deepEqual(trainableByName(out), {
    dense1: false,
    dropout1: true,
    dense2: true,
    dropout2: true,
    logits: true,
  });
});

Deno.test("setTrainable() with a trainable list freezes every other layer", () => {
  const out = setTrainable(mnistMlpTopology(), { trainable: ["logits"] });
  assert.deepEqual(trainableByName(out), {
    dense1: false,
    dropout1: false,
    dense2: false,
    dropout2: false,
    logits: true,
  });
});

Deno.test("setTrainable() matches `*` against any run of characters", () => {
  assert.deepEqual(trainableByName(setTrainable(mnistMlpTopology(), { frozen: ["dense*"] })), {
    dense1: false,
    dropout1: true,
    dense2: false,
    dropout2: true,
    logits: true,
  });
  assert.deepEqual(trainableByName(setTrainable(mnistMlpTopology(), { frozen: ["*"] })), {
    dense1: false,
    dropout1: false,
    dense2: false,
    dropout2: false,
    logits: false,
  });
  assert.deepEqual(trainableByName(setTrainable(mnistMlpTopology(), { frozen: ["*out*"] })), {
    dense1: true,
    dropout1: false,
    dense2: true,
    dropout2: false,
    logits: true,
  });
});

Deno.test("setTrainable() matches `?` against exactly one character", () => {
  const topology = mnistMlpTopology({ hidden: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4] });
  const out = trainableByName(setTrainable(topology, { frozen: ["dense?"] }));
  assert.equal(out.dense1, false);
  assert.equal(out.dense9, false);
  assert.equal(out.dense10, true, "dense? must not match dense10");
  assert.equal(out.dropout1, true);
  const two = trainableByName(setTrainable(topology, { frozen: ["dense??"] }));
  assert.equal(two.dense10, false);
  assert.equal(two.dense1, true);
});

Deno.test("setTrainable() anchors patterns to the whole layer name", () => {
  assert.throws(
    () => setTrainable(mnistMlpTopology(), { frozen: ["dense"] }),
    /no layer matches "dense"/,
  );
  assert.throws(() => setTrainable(mnistMlpTopology(), { frozen: ["ense1"] }), /"ense1"/);
});

Deno.test("setTrainable() treats regex characters other than `*` and `?` literally", () => {
  const topology = {
    class_name: "Sequential",
    config: {
      name: "m",
      layers: [
        { class_name: "Dense", config: { name: "block.1", units: 1 } },
        { class_name: "Dense", config: { name: "blockx1", units: 1 } },
        { class_name: "Dense", config: { name: "a+b", units: 1 } },
      ],
    },
  };
  assert.deepEqual(trainableByName(setTrainable(topology, { frozen: ["block.1"] })), {
    "block.1": false,
    blockx1: true,
    "a+b": true,
  });
  assert.deepEqual(trainableByName(setTrainable(topology, { frozen: ["a+b"] })), {
    "block.1": true,
    blockx1: true,
    "a+b": false,
  });
  assert.throws(() => setTrainable(topology, { frozen: ["aa+b"] }), /no layer matches "aa\+b"/);
});

Deno.test("setTrainable() throws a RangeError naming a pattern that matches no layer", () => {
  assert.throws(
    () => setTrainable(mnistMlpTopology(), { frozen: ["dense1", "conv9"] }),
    (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /no layer matches "conv9"/);
      assert.match(e.message, /dense1, dropout1, dense2, dropout2, logits/);
      return true;
    },
  );
  assert.throws(
    () => setTrainable(mnistMlpTopology(), { trainable: ["head*"] }),
    /no layer matches "head\*"/,
  );
});

Deno.test("setTrainable() does not mutate the input topology", () => {
  const topology = mnistMlpTopology();
  const before = structuredClone(topology);
  const out = setTrainable(topology, { frozen: ["dense*"] });
  assert.deepEqual(topology, before);
  assert.notEqual(out, topology);
  assert.ok(!JSON.stringify(topology).includes('"trainable":false'));

  const wrapped = kerasWrapped();
  const wrappedBefore = structuredClone(wrapped);
  setTrainable(wrapped, { trainable: ["logits"] });
  assert.deepEqual(wrapped, wrappedBefore);
});

Deno.test("setTrainable() keeps everything else of the topology", () => {
  const topology = mnistMlpTopology();
  const out = setTrainable(topology, { frozen: ["dense2"] });
  const expected = structuredClone(topology);
  const layer = layersOf(expected).find((l) => l.config.name === "dense2");
  assert.ok(layer);
  layer.config.trainable = false;
  assert.deepEqual(out, expected);
});

Deno.test("setTrainable() without a list returns the topology as it is", () => {
  const topology = mnistMlpTopology();
  assert.equal(setTrainable(topology, {}), topology);
});

Deno.test("setTrainable() writes into the layers under the Keras model_config wrapper", () => {
  const out = setTrainable(kerasWrapped(), { frozen: ["dense?"] });
  assert.deepEqual(trainableByName(out), {
    dense1: false,
    dropout1: true,
    dense2: false,
    dropout2: true,
    logits: true,
  });
  assert.equal(out.keras_version, "2.15.0");
  assert.deepEqual(out.training_config, { loss: "categorical_crossentropy" });
});

Deno.test("setTrainable() re-enables layers a topology had frozen", () => {
  const frozen = setTrainable(mnistMlpTopology(), { frozen: ["*"] });
  const out = setTrainable(frozen, { frozen: ["logits"] });
  assert.equal(trainableByName(out).dense1, true);
  assert.equal(trainableByName(out).logits, false);
});

Deno.test("setTrainable() works on the built-in CNN", () => {
  const names = layerNames(mnistCnnTopology());
  const out = trainableByName(setTrainable(mnistCnnTopology(), { frozen: ["conv*"] }));
  for (const name of names) assert.equal(out[name], !name.startsWith("conv"), name);
  assert.ok(names.some((n) => n.startsWith("conv")));
});
