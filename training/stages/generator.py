"""Stage ``generator``: encoder + SEAN generator (``--variant mrsa``) or MSCA + its generator (``msca``).

The mrsa variant trains the encoder and the generator that MRSA edits go through; MRSA itself is
trained afterwards on their frozen encoder by the ``mrsa`` stage (training/stages/mrsa.py), where a
step costs milliseconds instead of a generator pass.

Supervised reconstruction with the reference equal to the source (paper 000): ``y = G(m, E(x, m))``
should give back ``x``. Losses (each weight is an option; 0 switches a term off):

- ``l1``: L1(y, x).
- ``perceptual``: VGG-19 when ``--vgg-weights FILE`` is given, otherwise the download-free
  `training.losses.StructureLoss` (multi-scale image-gradient L1 + 1 - SSIM).
- ``gan`` / ``fm``: multi-scale hinge GAN, mask-conditional discriminators, discriminator feature
  matching (TTUR: ``--lr`` for G, ``--lr-d`` for D). On a CPU they cost throughput; switch off with
  ``--gan-weight 0``.
- ``parse``: semantic consistency CE(P(y), m) through the frozen parser of ``--parser-from``, weight
  0.01 as in SeCGAN (paper 002).
- ``align`` (mrsa variant, paper 001): a transferred image ``I_g = G(m_A, s_mix)`` (some regions' styles
  from another face), a random free-form mask M, composed encoder features
  ``e = M*E(I_g) + (1-M)*E(I_A)``, decoded as ``I_h = G(m_A, region_pool(e, m_A))``; loss
  L1 inside M against I_g plus L1 outside against I_A. With one style vector per region the decoder
  cannot follow M inside a region it cuts, so the term mostly teaches locality: regions whose pooled
  features did not change must come out unchanged, whatever happened in the others.
- ``harmony`` (msca variant, synthetic corpus only), against exact relit ground truth
  (`render_transfer_gt`): an **image-space** loss. ``G_msca(m_t, s'_r, MSCA(m_t, E.pyramid(x_src),
  m_src))`` (exactly the engine's MSCA path) must reproduce the ground truth image (L1 + perceptual).
  The MRSA counterpart, in style space, is the ``mrsa`` stage.
- ``cross`` (msca variant, paper 004): the exemplar given to MSCA is, for ``--cross-prob`` of the
  samples, a re-framed copy of the face (random rotation, scale, shift, flip), the target the original
  layout; the rest reconstruct from the face itself (global self-reconstruction). A fraction
  ``--style-dropout`` of the region styles is zeroed so that appearance must come through MSCA.

The msca variant trains MSCA and ``generator_msca`` against the frozen encoder of the mrsa run
(``--init-from``), so both generators of a bundle share one style space.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.harmonise import harmonise
from engine.models.layers import region_pool
from engine.models.mrsa import compose_reference
from engine.networks import Networks
from training.config import TrainConfig
from training.discriminators import DiscriminatorConfig, MultiScaleDiscriminator
from training.loop import Stage
from training.losses import feature_matching, hinge_d_loss, hinge_g_loss, make_perceptual
from training.stages.common import SampleSource, init_matching, load_nets, net_configs, require_nets
from training.stages.gen_data import GenBatch, make_gen_batch

__all__ = ["GeneratorStageConfig", "GeneratorStage"]


@dataclass
class GeneratorStageConfig(TrainConfig):
    """Train encoder + generator (MRSA: the mrsa stage), or MSCA + generator_msca with --variant msca."""

    out: str = "runs/generator"
    variant: str = field(default="mrsa", metadata={"choices": ("mrsa", "msca")})
    lr: float = 1e-4
    lr_d: float = field(default=4e-4, metadata={"help": "discriminator learning rate (TTUR)"})
    l1_weight: float = 1.0
    perceptual_weight: float = 1.0
    vgg_weights: str = field(default="", metadata={"help": "local VGG-19 weights file (else the fallback)"})
    gan_weight: float = field(default=1.0, metadata={"help": "hinge GAN weight (0 = no discriminator)"})
    fm_weight: float = field(default=10.0, metadata={"help": "discriminator feature matching weight"})
    parse_weight: float = field(default=0.01, metadata={"help": "semantic consistency weight (SeCGAN)"})
    parser_from: str = field(default="", metadata={"help": "folder with the trained parser"})
    align_weight: float = field(default=1.0, metadata={"help": "content alignment (001) weight"})
    align_every: int = field(default=2, metadata={"help": "content alignment every N steps"})
    harmony_weight: float = field(default=1.0, metadata={"help": "relit-transfer harmonisation weight"})
    harmony_every: int = field(default=2, metadata={"help": "harmonisation loss every N steps"})
    harmony_batch: int = field(default=4, metadata={"help": "transfer triplets per process and step"})
    cross_prob: float = field(default=0.5, metadata={"help": "msca: share of re-framed exemplars"})
    style_dropout: float = field(default=0.2, metadata={"help": "msca: share of zeroed region styles"})
    init_from: str = field(default="", metadata={"help": "start from these nets (msca: the encoder)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant == "msca" and self.out == "runs/generator":
            self.out = "runs/generator_msca"
        if self.align_every < 1 or self.harmony_every < 1:
            raise ValueError("--align-every and --harmony-every must be >= 1")
        if not 0 <= self.cross_prob <= 1 or not 0 <= self.style_dropout < 1:
            raise ValueError("--cross-prob must lie in [0, 1] and --style-dropout in [0, 1)")


class GeneratorStage(Stage):
    name = "generator"
    config_cls = GeneratorStageConfig

    def build_nets(self) -> None:
        from engine.models.encoder import StyleEncoder
        from engine.models.generator import Generator
        from engine.models.msca import MSCA

        cfg = self.cfg
        cfgs = net_configs(cfg.tiny)
        self.msca = cfg.variant == "msca"
        if self.msca:
            init = require_nets(
                cfg.init_from, ("encoder",), "init-from", "the msca variant uses the mrsa run's encoder"
            )
            enc = init["encoder"]
            self.frozen["encoder"] = enc
            levels = enc.pyramid_channels
            k = cfgs["msca"].k
            if len(k) != len(levels):  # encoder of another size: K = 8 at the finest level, 16 elsewhere
                k = (min(k[0], 8),) + (max(k),) * (len(levels) - 1)
            mcfg = dataclasses.replace(cfgs["msca"], feat_channels=levels, k=k)
            gcfg = dataclasses.replace(
                cfgs["generator_msca"], style_dim=enc.cfg.style_dim, extra_channels=mcfg.out_channels
            )
            self.nets["msca"] = MSCA(mcfg)
            self.nets["generator_msca"] = Generator(gcfg)
            extra = load_nets(cfg.init_from, ("msca", "generator_msca", "generator"))
            if "generator_msca" in extra:
                init_matching(self.nets["generator_msca"], extra["generator_msca"])
            elif "generator" in extra:  # same blocks except the SPADE inputs: start from the plain generator
                init_matching(self.nets["generator_msca"], extra["generator"])
            if "msca" in extra:
                init_matching(self.nets["msca"], extra["msca"])
            self.ema_names = ("msca", "generator_msca")
        else:
            self.nets["encoder"] = StyleEncoder(cfgs["encoder"])
            self.nets["generator"] = Generator(cfgs["generator"])
            if cfg.init_from:
                for name, net in load_nets(cfg.init_from, ("encoder", "generator")).items():
                    init_matching(self.nets[name], net)
            self.ema_names = ("encoder", "generator")
        if cfg.gan_weight > 0:
            dcfg = DiscriminatorConfig.tiny() if cfg.tiny else DiscriminatorConfig()
            self.nets["disc"] = MultiScaleDiscriminator(dcfg)
        if cfg.parse_weight > 0 and cfg.parser_from:
            self.frozen["parser"] = require_nets(
                cfg.parser_from, ("parser",), "parser-from", "semantic consistency"
            )["parser"]
        self.frozen["perceptual"] = make_perceptual(cfg.vgg_weights)
        self.source = SampleSource(cfg.data, cfg.size, first_seed=cfg.first_seed, seed=cfg.seed)

    def build_optimizers(self) -> None:
        cfg = self.cfg
        betas = (0.5, 0.999) if cfg.gan_weight > 0 else (0.9, 0.999)
        g_params = [p for n, m in self.nets.items() if n != "disc" for p in m.parameters()]
        self.optimizers["g"] = torch.optim.Adam(g_params, lr=cfg.lr, betas=betas)
        if "disc" in self.nets:
            self.optimizers["d"] = torch.optim.Adam(self.nets["disc"].parameters(), lr=cfg.lr_d, betas=betas)

    # ---------------------------------------------------------------------------------------- data
    def make_batch(self, positions: list[int], step: int) -> GenBatch:
        cfg = self.cfg
        rstep = 0 if cfg.repeat_batch else step
        harmony = self.msca and cfg.harmony_weight > 0 and step % cfg.harmony_every == 0
        return make_gen_batch(
            self.source,
            positions,
            rstep,
            seed=cfg.seed,
            size=cfg.size,
            device=self.device,
            exemplars=self.msca,
            cross_prob=cfg.cross_prob,
            masks=not self.msca and cfg.align_weight > 0 and step % cfg.align_every == 0,
            transfer_count=min(cfg.harmony_batch, len(positions)) if harmony else 0,
        )

    # ---------------------------------------------------------------------------------------- nets
    def _encoder(self):
        return self.frozen["encoder"] if self.msca else self.nets["encoder"]

    @property
    def _msca_nets(self) -> Networks:
        return Networks(encoder=self.frozen["encoder"], msca=self.nets["msca"],
                        generator_msca=self.nets["generator_msca"], source="the msca stage")

    def _generate(self, mask, styles, exemplar=None, noise_seed=None):
        """The stage's generator on ``mask`` and ``styles``; msca: exemplar = (image, one-hot mask)."""
        if not self.msca:
            return self.nets["generator"](mask, styles, noise_seed=noise_seed)
        # the engine's MSCA path (engine.harmonise), every row edited and none pasted
        edited = torch.ones(styles.shape[:2], dtype=torch.bool, device=styles.device)
        h = harmonise(self._msca_nets, "msca", styles, styles, ~edited, edited=edited,
                      target_mask=mask, exemplar=exemplar)
        return h.generate(mask, noise_seed=noise_seed)

    def _recon_terms(self, y, x):
        cfg = self.cfg
        l1 = (y.float() - x).abs().mean()
        perc = self.frozen["perceptual"](y.float(), x) if cfg.perceptual_weight > 0 else y.new_zeros(())
        return l1, perc

    # ---------------------------------------------------------------------------------------- step
    def train_step(self, batch: GenBatch, step: int) -> dict[str, float]:
        cfg, tr = self.cfg, self.trainer
        f = batch.faces
        x, m = f.image, f.mask
        logs: dict[str, float] = {}
        disc = self.nets.get("disc")
        if disc is not None:
            disc.requires_grad_(False)
        with tr.autocast():
            if self.msca:
                with torch.no_grad():
                    s = self._encoder()(x, m)
                if cfg.style_dropout > 0:
                    keep = torch.rand(s.shape[:2], device=s.device) >= cfg.style_dropout
                    s = s * keep.unsqueeze(-1)
                y = self._generate(m, s, (batch.exemplar.image, batch.exemplar.mask))
            else:
                s = self._encoder()(x, m)
                y = self._generate(m, s)
            l1, perc = self._recon_terms(y, x)
            total = cfg.l1_weight * l1 + cfg.perceptual_weight * perc
            logs.update(loss=l1.item(), perceptual=float(perc.detach()))
            if disc is not None:
                fake = disc(y, m)
                with torch.no_grad():
                    real = disc(x, m)
                adv, fm = hinge_g_loss(fake), feature_matching(real, fake)
                total = total + cfg.gan_weight * adv + cfg.fm_weight * fm
                logs.update(g_adv=adv.item(), fm=fm.item())
            if "parser" in self.frozen:
                ce = F.cross_entropy(self.frozen["parser"](y).float(), f.label)
                total = total + cfg.parse_weight * ce
                logs["parse_ce"] = ce.item()
            if batch.masks is not None:
                align = self._align_loss(batch, s)
                total = total + cfg.align_weight * align
                logs["align"] = align.item()
            if batch.transfer is not None:
                harm = self._harmony_loss(batch)
                total = total + cfg.harmony_weight * harm
                logs["harmony"] = harm.item()
        tr.backward(total)
        tr.step(self.optimizers["g"])
        if disc is not None:
            disc.requires_grad_(True)
            with tr.autocast():
                d_loss = hinge_d_loss(disc(x, m), disc(y.detach(), m))
            tr.backward(d_loss)
            tr.step(self.optimizers["d"])
            logs["d_loss"] = d_loss.item()
        logs["total"] = total.item()
        self._last = (x.detach(), y.detach())
        return logs

    def _align_loss(self, batch: GenBatch, s: torch.Tensor) -> torch.Tensor:
        """Content alignment with free-form masks (paper 001), see the module docstring."""
        f = batch.faces
        enc, gen = self.nets["encoder"], self.nets["generator"]
        with torch.no_grad():
            partner = torch.roll(s.detach(), 1, dims=0)
            edited = torch.rand(s.shape[:2], device=s.device) < 0.5
            i_g = gen(f.mask, compose_reference(s.detach(), partner, edited), noise_seed=None).detach()
        feats_g = enc.features(i_g)
        feats_a = enc.features(f.image)
        mm = F.interpolate(batch.masks, size=feats_g.shape[-2:], mode="area")
        e = mm * feats_g + (1 - mm) * feats_a
        i_h = gen(f.mask, region_pool(e, f.mask), noise_seed=None).float()
        inside = ((i_h - i_g).abs() * batch.masks).mean()
        outside = ((i_h - f.image).abs() * (1 - batch.masks)).mean()
        return inside + outside

    def _harmony_loss(self, batch: GenBatch) -> torch.Tensor:
        """msca variant: the engine's MSCA transfer path must reproduce the relit ground truth."""
        t = batch.transfer
        enc = self._encoder()
        with torch.no_grad():
            s_t = enc(t.target.image, t.target.mask)
            s_src = enc(t.source.image, t.source.mask)
            s_r = compose_reference(s_t, s_src, t.edited)
        y = self._generate(t.target.mask, s_r, (t.source.image, t.source.mask))
        l1, perc = self._recon_terms(y, t.gt.image)
        return l1 + self.cfg.perceptual_weight * perc

    def visuals(self, batch: GenBatch):
        x, y = getattr(self, "_last", (batch.faces.image, batch.faces.image))
        out = {"input": x, "output": y}
        if batch.exemplar is not None:
            out["exemplar"] = batch.exemplar.image
        return out

    def export(self):
        names = ("msca", "generator_msca") if self.msca else ("encoder", "generator")
        return {n: self.averaged(n) for n in names}
