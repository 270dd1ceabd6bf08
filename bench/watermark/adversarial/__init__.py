"""Issue 9's attacks on Assay's watermark, versions 1 and 2 side by side: ``python -m bench.watermark.adversarial``.

The attacker has what Assay publishes: marked images, their mark ids (so, for version 1, their payloads: the
"known payloads" rows), and the open code (the embedder's period, masking map and rendering, the detector's
fold, the ECC, and, for version 2, the public sync). Never the keys. Every tool below is built from that
code, the way the attacker would use it:

- **Copy from one image.** Fold the high-pass residual of one marked image over its tile lattice (the period
  the open code gives for its size), redraw the folded tile on an unrelated photo at that photo's scale with
  the embedder's own masking, at a chosen PSNR (42, 38, 35 dB), then optionally JPEG 75. Also the *unfolded*
  residual (the whole high-pass image of the marked source, cropped to the target), which keeps everything
  that does not repeat, at the price of the source photo's texture.
- **Averaging N marked images** (N = 10, 50, 200, 1000; generated 512x512 images, all with the same period
  and origin, so they align perfectly): the mean folded chip values (the part shared by every image), and
  with known payloads a regression of every chip on every coded bit of the public ECC of the payload
  (which chip carries which bit, with which sign). The recovered chip map is scored against the truth, and
  turned into forgeries: the shared part alone, and full marks for chosen payloads, drawn on never-marked
  photos at 42 dB and checked by the detector.
- **Removal by estimate subtraction** from marked photos: the image's own folded residual (N = 1), the
  averaged estimates (and, for version 1 with the image's payload known, its rebuilt tile; for version 2 the
  public sync, known without any image), each fitted to the image by least squares and subtracted at
  1x-3x, reporting detection against PSNR to the marked image.

- **The version 3 probes** (``v3_probe``, ``v3_costs``; not part of the main run): whether a non-repeating
  layer carrying the message survives the own-fold removal at every strength, what reading it with 1,000 keys
  costs, and the *covariance attack* on such a layer: the top singular vectors of N aligned marked images of
  one system, which learn any structure the layer shares across images (REMOVAL.md).

Detection for version 1 uses its one register-wide key; for version 2 a ring of 1,000 system keys that
includes the marking system's key (a forgery with any key counts).
"""
