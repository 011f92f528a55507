//! The whole VIP5 model: shared embedding, encoder, decoder and LM head, with HF's names.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

use crate::adapter::Task;
use crate::batch::EncoderTensors;
use crate::config::{TrainMode, Vip5Config};
use crate::nn::linear::{linear, matmul};
use crate::t5::attention::DecoderCache;
use crate::t5::stack::{T5Decoder, T5Encoder};

/// Up to this many decoder rows (beams x steps), the tied LM head multiplies the table by the
/// states rather than the states by the table (see [`Vip5Model::lm_logits`]).
const FEW_ROWS: usize = 32;

/// VIP5 = T5 (`shared`, `encoder`, `decoder`, optional untied `lm_head`) + the VIP5 parts inside
/// the encoder and the blocks. Every tensor's path is its Hugging Face / original VIP5 name.
#[derive(Module, Debug)]
pub struct Vip5Model {
    pub shared: Embedding,
    pub encoder: T5Encoder,
    pub decoder: T5Decoder,
    pub lm_head: Option<Linear>,
    d_model: usize,
}

impl Vip5Model {
    /// A freshly initialised model (HF's T5 init for the backbone, PyTorch defaults for the VIP5
    /// parts). Seed the device first (`device.seed(..)`) for reproducible weights.
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        Self {
            shared: EmbeddingConfig::new(cfg.vocab_size, cfg.d_model)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 1.0 })
                .init(device),
            encoder: T5Encoder::new(cfg, device),
            decoder: T5Decoder::new(cfg, device),
            lm_head: (!cfg.tie_word_embeddings).then(|| {
                LinearConfig::new(cfg.d_model, cfg.vocab_size)
                    .with_bias(false)
                    .with_initializer(Initializer::Normal { mean: 0.0, std: 1.0 })
                    .init(device)
            }),
            d_model: cfg.d_model,
        }
    }

    /// Encoder hidden states `[B, L, d]`.
    pub fn encode(&self, x: &EncoderTensors, task: Task) -> Tensor<3> {
        self.encoder.forward(&self.shared, x, task)
    }

    /// A decoding cache for this encoder output (cross-attention keys/values computed once).
    pub fn start_decoding(
        &self,
        encoder_hidden: Tensor<3>,
        encoder_attention_mask: Tensor<2>,
    ) -> DecoderCache {
        self.decoder.start_cache(encoder_hidden, encoder_attention_mask)
    }

    /// Feeds the next decoder tokens `[B, q]` and returns their logits `[B, q, vocab]`.
    /// Token by token (q = 1) this is the O(t) cached step; a whole prefix at once is teacher
    /// forcing.
    pub fn decode(
        &self,
        decoder_input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
        task: Task,
    ) -> Tensor<3> {
        let h = self.decoder.forward(self.shared.forward(decoder_input_ids), cache, task);
        self.lm_logits(h)
    }

    /// Teacher-forced logits for a whole decoder input (training and parity checks).
    pub fn forward(
        &self,
        x: &EncoderTensors,
        decoder_input_ids: Tensor<2, Int>,
        task: Task,
    ) -> Tensor<3> {
        self.lm_logits(self.forward_hidden(x, decoder_input_ids, task))
    }

    /// Teacher-forced decoder states before the LM head `[B, T, d]`: a training objective that
    /// scores only part of the vocabulary projects them with [`Self::output_rows`] itself.
    pub fn forward_hidden(
        &self,
        x: &EncoderTensors,
        decoder_input_ids: Tensor<2, Int>,
        task: Task,
    ) -> Tensor<3> {
        let enc = self.encode(x, task);
        let mut cache = self.start_decoding(enc, x.attention_mask.clone());
        self.decoder.forward(self.shared.forward(decoder_input_ids), &mut cache, task)
    }

    /// The LM head as one row per token `[V, d]` and the factor decoder states are multiplied by
    /// first: logits = (h * factor) @ rows^T, exactly what [`Self::decode`] computes.
    pub fn output_rows(&self) -> (Tensor<2>, f64) {
        match &self.lm_head {
            Some(head) => (head.weight.val().transpose(), 1.0),
            None => (self.shared.weight.val(), (self.d_model as f64).powf(-0.5)),
        }
    }

    pub(crate) fn lm_logits(&self, h: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => linear(head, h),
            None => {
                // Tied head (T5 v1.0): rescale by d_model^-0.5 before projecting on `shared`.
                // A 2-D matmul: broadcasting the [d, V] table over the batch would copy it B times.
                let [b, t, d] = h.dims();
                let w = self.shared.weight.val();
                let [vocab, _] = w.dims();
                let h = h.reshape([b * t, d]).mul_scalar((self.d_model as f64).powf(-0.5));
                let logits = if b * t <= FEW_ROWS {
                    // Decoding (a few beams): the table's rows times h, transposed back. The CPU
                    // backend's gemm then reads the [V, d] table where it lies; `h @ table^T`
                    // repacks the whole table at every step (the page's profile: 14 %).
                    matmul(w, h.transpose()).transpose()
                } else {
                    matmul(h, w.transpose())
                };
                logits.reshape([b, t, vocab])
            }
        }
    }

    /// Marks which parameters train: VIP5's split (adapters, visual mapping network, every RMS
    /// norm gain; optionally the whole-word/category tables) or everything (full fine-tuning).
    pub fn with_train_mode(self, mode: TrainMode, train_input_tables: bool) -> Self {
        let mut mapper = RequireGradMapper(TrainableWalk::new(mode, train_input_tables));
        self.map(&mut mapper)
    }

    /// Parameter counts `(total, trainable)` read off the module's own parameters; `trainable`
    /// follows the same rule `with_train_mode` applies.
    pub fn param_counts(&self, mode: TrainMode, train_input_tables: bool) -> ParamCounts {
        let mut v = CountVisitor {
            walk: TrainableWalk::new(mode, train_input_tables),
            counts: ParamCounts::default(),
        };
        self.visit(&mut v);
        v.counts
    }
}

/// Draws every lazily initialised parameter now. burn initialises a parameter on first use, so
/// without this its value depends on when it is first used (e.g. a copy forked to another device
/// would draw its own values); call it right after seeding and building a model.
pub fn initialize_params<M: Module>(module: &M) {
    struct Init;
    impl ModuleVisitor for Init {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Init);
}

/// Total and trainable parameter counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParamCounts {
    pub total: usize,
    pub trainable: usize,
}

impl ParamCounts {
    pub fn trainable_percent(&self) -> f64 {
        100.0 * self.trainable as f64 / self.total as f64
    }
}

/// What a parameter is in VIP5's split between the T5 backbone and the parts VIP5 adds, from its
/// path (module path or checkpoint tensor name: they agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamRole {
    /// An adapter's down or up projection (VIP5 adds it).
    Adapter,
    /// The visual mapping from CLIP features to visual tokens (VIP5 adds it).
    VisualMapping,
    /// The whole-word or category embedding table (VIP5 adds it).
    InputTable,
    /// A layer norm's gain (part of T5; trains in adapter mode).
    NormGain,
    /// The rest of T5.
    Backbone,
}

impl ParamRole {
    pub fn of(path: &str) -> Self {
        if path.contains("_adapter.") {
            Self::Adapter
        } else if path.contains("visual_embedding.") {
            Self::VisualMapping
        } else if path.contains("whole_word_embeddings.") || path.contains("category_embeddings.") {
            Self::InputTable
        } else if path.ends_with("layer_norm.weight") {
            Self::NormGain
        } else {
            Self::Backbone
        }
    }

    /// A part VIP5 adds to T5, which a backbone checkpoint may lack.
    pub fn is_vip5_part(self) -> bool {
        matches!(self, Self::Adapter | Self::VisualMapping | Self::InputTable)
    }
}

/// The VIP5 trainable/frozen rule on a parameter path (docs/vip5.md §1.5).
pub fn is_trainable(path: &str, mode: TrainMode, train_input_tables: bool) -> bool {
    match mode {
        TrainMode::Full => true,
        TrainMode::Adapters => match ParamRole::of(path) {
            ParamRole::Adapter | ParamRole::VisualMapping | ParamRole::NormGain => true,
            ParamRole::InputTable => train_input_tables,
            ParamRole::Backbone => false,
        },
    }
}

/// The trainable/frozen rule applied while walking the module tree: the path walked so far.
struct TrainableWalk {
    path: Vec<String>,
    mode: TrainMode,
    train_input_tables: bool,
}

impl TrainableWalk {
    fn new(mode: TrainMode, train_input_tables: bool) -> Self {
        Self { path: Vec::new(), mode, train_input_tables }
    }
    fn enter(&mut self, name: &str) {
        self.path.push(name.to_string());
    }
    fn exit(&mut self) {
        self.path.pop();
    }
    /// Whether the parameter at the current path trains.
    fn trainable(&self) -> bool {
        is_trainable(&self.path.join("."), self.mode, self.train_input_tables)
    }
}

struct RequireGradMapper(TrainableWalk);

impl ModuleMapper for RequireGradMapper {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.0.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.0.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.set_require_grad(self.0.trainable())
    }
}

struct CountVisitor {
    walk: TrainableWalk,
    counts: ParamCounts,
}

impl ModuleVisitor for CountVisitor {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.walk.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.walk.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let n = param.lazy_shape().num_elements();
        self.counts.total += n;
        if self.walk.trainable() {
            self.counts.trainable += n;
        }
    }
}
