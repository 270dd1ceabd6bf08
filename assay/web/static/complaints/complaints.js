/* Assay complaints: encrypt in the browser before anything is sent.
 *
 * The same constructions as assay/complaints/crypto.py, with libsodium.js (vendored, unmodified):
 *  - sealed box (crypto_box_seal: X25519 + XSalsa20-Poly1305) of a container padded to a Padmé length
 *    with ISO/IEC 7816-4 bytes (sodium.pad);
 *  - receipt: 16 random bytes shown as 12 BIP-39 words; Argon2id(receipt, installation salt) -> 64 bytes:
 *    access key (the server keeps only its HMAC) and the seed of the reply key pair (replies are sealed to it);
 *  - a proof of work against floods (SHA-256 with leading zero bits), instead of tracking anyone;
 *  - the complainant's own copy (fields and attachment names): crypto_secretbox under a copy key = keyed BLAKE2b of
 *    the reply-key seed, so the receipt re-reads what was sent and the server can neither read nor forge it.
 * Without JavaScript the forms still work: the server then encrypts on arrival and the pages say so.
 * All text from the server or from replies is put in the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var CONTAINER_MAGIC = "ASSAY-COMPLAINT-1\n";
  var MESSAGE_MAGIC = "ASSAY-MESSAGE-1\n";
  var OWN_COPY_MAGIC = "ASSAY-OWN-COPY-1\n";
  var OWN_COPY_CONTEXT = "assay-complaints-own-copy-v1";
  var FIELDS = ["what", "when", "effect", "ask", "contact"];
  // As _FIELD_TITLES in assay/web/routes/complaints/_channel.py (the no-JavaScript page shows the same).
  var TITLES = { what: "What happened", when: "When", effect: "How it affected you", ask: "What you asked for",
    contact: "Contact details" };
  // Image types a canvas can re-encode: the re-drawn file keeps the pixels and drops EXIF, XMP, GPS, comments.
  var STRIPPABLE = { "image/jpeg": "image/jpeg", "image/png": "image/png", "image/webp": "image/webp" };
  var enc = new TextEncoder();
  var dec = new TextDecoder("utf-8", { fatal: true });

  function $(id) { return document.getElementById(id); }

  function sodiumReady() {
    if (!window.sodium || !window.sodium.ready) {
      return Promise.reject(new Error("The encryption library did not load. Reload the page; or turn JavaScript " +
        "off, and the server will encrypt your complaint as it arrives."));
    }
    return window.sodium.ready.then(function () { return window.sodium; });
  }

  function b64(sodium, bytes) { return sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING); }
  function unb64(sodium, text) { return sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING); }

  function concat(parts) {
    var n = 0, i, out, at = 0;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    out = new Uint8Array(n);
    for (i = 0; i < parts.length; i++) { out.set(parts[i], at); at += parts[i].length; }
    return out;
  }

  function bitLength(n) { var b = 0; while (n > 0) { n = Math.floor(n / 2); b++; } return b; }

  // Padmé (Nikitin et al., PETS 2019), as padme_length() in crypto.py.
  function padmeLength(len) {
    if (len < 2) return Math.max(len, 1);
    var e = bitLength(len) - 1, s = bitLength(e), step = Math.pow(2, e - s);
    return Math.ceil(len / step) * step;
  }

  function seal(sodium, plaintext, publicKey) {
    var padded = sodium.pad(plaintext, padmeLength(plaintext.length + 1));
    return sodium.crypto_box_seal(padded, publicKey);
  }

  function openSealed(sodium, ciphertext, publicKey, privateKey) {
    var padded = sodium.crypto_box_seal_open(ciphertext, publicKey, privateKey);
    return sodium.unpad(padded, padded.length);
  }

  // --- the container (pack_complaint in crypto.py) ---------------------------------------------------------

  // replyPublic (complaints only): the receipt's reply key, sealed inside so the body can check the server's copy.
  function packComplaint(sodium, kind, systemId, fields, attachments, replyPublic) {
    var header = { kind: kind, system: systemId, mode: "browser", fields: {}, attachments: [] };
    if (replyPublic) header.reply_key = b64(sodium, replyPublic);
    FIELDS.forEach(function (k) { if (fields[k]) header.fields[k] = fields[k]; });
    attachments.forEach(function (a) {
      header.attachments.push({ name: a.name, type: a.type, size: a.data.length, metadata: a.metadata,
        sha256: sodium.to_hex(sodium.crypto_hash_sha256(a.data)) });
    });
    var json = enc.encode(JSON.stringify(header));
    var len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, json.length);
    return concat([enc.encode(CONTAINER_MAGIC), len, json].concat(attachments.map(function (a) { return a.data; })));
  }

  // --- the complainant's own copy (seal_own_copy / open_own_copy in crypto.py) -----------------------------

  function sealOwnCopy(sodium, kind, systemId, fields, attachments, copyKey) {
    var doc = { kind: kind, system: systemId, mode: "browser", fields: {}, attachments: [] };
    FIELDS.forEach(function (k) { if (fields[k]) doc.fields[k] = fields[k]; });
    attachments.forEach(function (a) {
      doc.attachments.push({ name: a.name, type: a.type, size: a.data.length, metadata: a.metadata });
    });
    var plain = concat([enc.encode(OWN_COPY_MAGIC), enc.encode(JSON.stringify(doc))]);
    var padded = sodium.pad(plain, padmeLength(plain.length + 1));
    var nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
    return concat([nonce, sodium.crypto_secretbox_easy(padded, nonce, copyKey)]);
  }

  function openOwnCopy(sodium, blob, copyKey) {
    var n = sodium.crypto_secretbox_NONCEBYTES;
    var padded = sodium.crypto_secretbox_open_easy(blob.slice(n), blob.slice(0, n), copyKey);
    var plain = sodium.unpad(padded, padded.length);
    var magic = enc.encode(OWN_COPY_MAGIC);
    if (plain.length < magic.length || dec.decode(plain.slice(0, magic.length)) !== OWN_COPY_MAGIC) {
      throw new Error("not a copy made by the complaint form");
    }
    var doc = JSON.parse(dec.decode(plain.slice(magic.length)));
    if (!doc || typeof doc.fields !== "object") throw new Error("not a copy made by the complaint form");
    return doc;
  }

  function renderOwnCopy(doc) {
    var box = document.createElement("div"), hint = document.createElement("p"), dl = document.createElement("dl");
    box.className = "own-copy";
    hint.className = "hint";
    hint.textContent = "What you sent (your copy, opened in your browser):";
    dl.className = "facts";
    FIELDS.forEach(function (k) {
      if (typeof doc.fields[k] !== "string" || !doc.fields[k]) return;
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = TITLES[k];
      dd.className = "text";
      dd.textContent = doc.fields[k];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    if (Array.isArray(doc.attachments) && doc.attachments.length) {
      var dt = document.createElement("dt"), dd = document.createElement("dd"), ul = document.createElement("ul");
      dt.textContent = "Attachments";
      ul.className = "plain";
      doc.attachments.forEach(function (a) {
        var li = document.createElement("li");
        li.textContent = String(a.name) + " (" + Number(a.size) + " bytes)";
        ul.appendChild(li);
      });
      dd.appendChild(ul); dl.appendChild(dt); dl.appendChild(dd);
    }
    box.appendChild(hint);
    box.appendChild(dl);
    return box;
  }

  // --- attachments: strip what can be stripped, warn about the rest ---------------------------------------

  function stripImage(file, type) {
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var canvas = document.createElement("canvas");
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      canvas.getContext("2d").drawImage(bitmap, 0, 0);
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (!blob || blob.type !== type) { reject(new Error("re-encoding is not supported")); return; }
          blob.arrayBuffer().then(function (buf) { resolve(new Uint8Array(buf)); }, reject);
        }, type, 0.92);
      });
    });
  }

  function prepareFiles(files) {
    return Promise.all(Array.prototype.map.call(files, function (file) {
      var type = STRIPPABLE[file.type];
      var asIs = function () {
        return file.arrayBuffer().then(function (buf) {
          return { name: file.name, type: file.type || "application/octet-stream", data: new Uint8Array(buf),
            metadata: "as-is" };
        });
      };
      if (!type) return asIs();
      return stripImage(file, type).then(function (data) {
        return { name: file.name, type: type, data: data, metadata: "stripped" };
      }, function () {
        // Could not be re-drawn (damaged, too large for a canvas, not really that type): kept as it is.
        return asIs().then(function (a) { a.notCleaned = true; return a; });
      });
    }));
  }

  // Photos that were announced as cleaned but could not be: the person decides, knowing it (null if none).
  function uncleanedWarning(attachments) {
    var names = attachments.filter(function (a) { return a.notCleaned; }).map(function (a) { return a.name; });
    if (!names.length) return null;
    var err = new Error("Hidden information could not be removed from " + names.join(", ") + ": it would be sent " +
      "as it is, possibly with a location, camera or author.");
    err.hint = "Remove that file, or press the button again to send it anyway.";
    return err;
  }

  // After a photo could not be cleaned, its note says so instead of promising it.
  function markUncleaned(list, attachments) {
    attachments.forEach(function (a, i) {
      var li = list.children[i];
      if (!a.notCleaned || !li) return;
      li.className = "warn";
      li.textContent = a.name + ": could not be cleaned; it would be sent as it is, with any hidden information.";
    });
  }

  function describeFiles(input, list) {
    list.textContent = "";
    Array.prototype.forEach.call(input.files, function (file) {
      var li = document.createElement("li");
      if (STRIPPABLE[file.type]) {
        li.className = "ok";
        li.textContent = file.name + ": a photo; hidden information (location, camera, author) will be removed.";
      } else {
        li.className = "warn";
        li.textContent = file.name + ": will be sent as it is. It may carry hidden information such as an author's " +
          "name or a location; remove it first if that matters to you.";
      }
      list.appendChild(li);
    });
  }

  // --- receipts: BIP-39 words over 16 random bytes --------------------------------------------------------

  var wordlistPromise = null;
  function wordlist() {
    if (!wordlistPromise) {
      wordlistPromise = fetch("/complaints/wordlist.txt", { credentials: "omit" }).then(function (r) {
        if (!r.ok) throw new Error("The receipt word list did not load; reload the page.");
        return r.text();
      }).then(function (t) {
        var words = t.split("\n").filter(function (w) { return w; });
        if (words.length !== 2048) throw new Error("The receipt word list is damaged; reload the page.");
        return words;
      });
    }
    return wordlistPromise;
  }

  function bits(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += ("00000000" + bytes[i].toString(2)).slice(-8);
    return s;
  }

  function entropyToWords(sodium, entropy, words) {
    var b = bits(entropy) + bits(sodium.crypto_hash_sha256(entropy)).slice(0, 4);
    var out = [];
    for (var i = 0; i < b.length; i += 11) out.push(words[parseInt(b.slice(i, i + 11), 2)]);
    return out;
  }

  function wordsToEntropy(sodium, text, words) {
    var typed = text.normalize("NFKD").toLowerCase().replace(/[-,]/g, " ").split(/\s+/).filter(function (w) { return w; });
    if (typed.length !== 12) throw new Error("A receipt has 12 words; this has " + typed.length + ".");
    var byPrefix = {};
    words.forEach(function (w, i) { byPrefix[w.slice(0, 4)] = i; });
    var b = "";
    typed.forEach(function (w, n) {
      var i = words.indexOf(w);
      if (i < 0 && w.length >= 4 && byPrefix.hasOwnProperty(w.slice(0, 4))) i = byPrefix[w.slice(0, 4)];
      if (i < 0) throw new Error("Word " + (n + 1) + " of the receipt is not a receipt word: check its spelling.");
      b += ("00000000000" + i.toString(2)).slice(-11);
    });
    var entropy = new Uint8Array(16);
    for (var k = 0; k < 16; k++) entropy[k] = parseInt(b.slice(k * 8, k * 8 + 8), 2);
    if (bits(sodium.crypto_hash_sha256(entropy)).slice(0, 4) !== b.slice(128)) {
      throw new Error("The receipt's words do not fit together: one of them is wrong or two are swapped.");
    }
    return entropy;
  }

  function deriveKeys(sodium, entropy, ds) {
    var out = sodium.crypto_pwhash(64, entropy, unb64(sodium, ds.salt), Number(ds.opslimit), Number(ds.memlimit),
      sodium.crypto_pwhash_ALG_ARGON2ID13);
    var pair = sodium.crypto_box_seed_keypair(out.slice(32));
    var copy = sodium.crypto_generichash(32, enc.encode(OWN_COPY_CONTEXT), out.slice(32));
    return { access: out.slice(0, 32), replyPublic: pair.publicKey, replyPrivate: pair.privateKey, copy: copy };
  }

  // --- the network ----------------------------------------------------------------------------------------

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "omit", cache: "no-store", headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var e = (data && data.error) || {};
          var err = new Error(e.message || ("The server answered " + r.status + "."));
          err.hint = e.hint || "";
          err.problems = e.problems || [];
          throw err;
        }
        return data;
      });
    });
  }

  function zeroBits(hash, n) {
    var full = Math.floor(n / 8), rest = n % 8;
    for (var i = 0; i < full; i++) if (hash[i] !== 0) return false;
    return rest === 0 || (hash[full] >> (8 - rest)) === 0;
  }

  // A look-up's difficulty is set by the server from its load (often 0 bits: then nothing to solve).
  function proofOfWork(sodium, powBits, purpose) {
    if (!purpose && !(Number(powBits) > 0)) return Promise.resolve(null);
    return postJSON("/api/v1/complaints/challenge?purpose=" + (purpose || "complaint"), {}).then(function (c) {
      if (purpose && !(Number(c.bits) > 0)) return null;
      var challenge = sodium.from_hex(c.challenge), n = 0;
      var buf = new Uint8Array(challenge.length + 8);
      var view = new DataView(buf.buffer);
      buf.set(challenge);
      return new Promise(function (resolve) {
        (function batch() {
          for (var k = 0; k < 5000; k++, n++) {
            view.setUint32(challenge.length, Math.floor(n / 4294967296));
            view.setUint32(challenge.length + 4, n >>> 0);
            if (zeroBits(sodium.crypto_hash_sha256(buf), c.bits)) {
              resolve({ challenge: c.challenge, nonce: sodium.to_hex(buf.slice(challenge.length)) });
              return;
            }
          }
          setTimeout(batch, 0); // let the page breathe
        })();
      });
    });
  }

  // A complaint's proof of work is priced by load too (the server says how many bits). If the register got
  // much busier while this browser worked, the answer asks for a dearer one: solve a new challenge and send
  // again, twice at most.
  function sendPaid(sodium, url, body, progress, tries) {
    return proofOfWork(sodium, 0, "complaint").then(function (pow) {
      body.pow = pow;
      progress.textContent = "Sending…";
      return postJSON(url, body);
    }).catch(function (err) {
      var dearer = (err.problems || []).some(function (p) {
        return p.path === "pow" && /too easy/.test(p.message || "");
      });
      if (dearer && (tries || 0) < 2) {
        progress.textContent = "The register is busy: checking again that this is not a flood…";
        return sendPaid(sodium, url, body, progress, (tries || 0) + 1);
      }
      throw err;
    });
  }

  function showError(box, err) {
    box.textContent = "";
    var p = document.createElement("p");
    p.textContent = err.message || String(err);
    box.appendChild(p);
    if (err.hint) { var h = document.createElement("p"); h.textContent = err.hint; box.appendChild(h); }
    (err.problems || []).forEach(function (pr) {
      var q = document.createElement("p");
      q.textContent = pr.path + ": " + pr.message + (pr.fix ? " (" + pr.fix + ")" : "");
      box.appendChild(q);
    });
    box.hidden = false;
    box.focus && box.focus();
  }

  function checkSize(ds, ciphertext) {
    if (ciphertext.length > Number(ds.maxBytes)) {
      throw new Error("The complaint with its attachments is " + Math.round(ciphertext.length / 1e6) +
        " MB; the limit is " + Math.round(Number(ds.maxBytes) / 1e6) + " MB. Attach fewer or smaller files.");
    }
    var files = arguments[2];
    if (files && files.length > Number(ds.maxAttachments)) {
      throw new Error("Attach at most " + ds.maxAttachments + " files.");
    }
  }

  // --- the receipt: the same facts as the no-JavaScript page, and ways to keep it --------------------------

  // The text "Copy" and "Save" give: as _receipt_text() in assay/web/routes/complaints/pages.py writes it.
  function receiptText(words, answer) {
    var numbered = words.map(function (w, i) { return (i < 9 ? " " : "") + (i + 1) + ". " + w; }).join("\n");
    return "Receipt of a complaint about " + answer.system_name + "\n\n" + numbered + "\n\n" +
      "Received on " + answer.received_on + ". The oversight body acknowledges it by " + answer.acknowledge_by +
      " (7 days) and answers by " + answer.answer_by + " (3 months).\n" +
      "Follow up with these twelve words at " + location.origin + "/complaints/follow-up\n" +
      "Anyone who has these words can read the replies and what you sent: keep them where only you can.\n";
  }

  function showReceipt(words, answer) {
    var list = $("receipt-words"), status = $("receipt-action-status"), written = $("receipt-written");
    var text = receiptText(words, answer);
    list.textContent = "";
    words.forEach(function (w) { var li = document.createElement("li"); li.textContent = w; list.appendChild(li); });
    $("receipt-received").textContent = answer.received_on;
    $("receipt-ack-by").textContent = answer.acknowledge_by;
    $("receipt-answer-by").textContent = answer.answer_by;
    document.querySelectorAll(".receipt-ack-by").forEach(function (el) { el.textContent = answer.acknowledge_by; });
    $("receipt-kept").textContent = answer.own_copy_kept ? "kept: these words also let you re-read what you sent" :
      "not kept: only the oversight body can read what you sent";
    $("receipt-copy").addEventListener("click", function () {
      var done = function () { status.textContent = "Copied. Paste it where only you can find it, then clear the clipboard."; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { selectWords(list, status); });
      } else {
        selectWords(list, status);
      }
    });
    $("receipt-print").addEventListener("click", function () { window.print(); });
    $("receipt-save").addEventListener("click", function () {
      var url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
      var a = document.createElement("a");
      a.href = url;
      a.download = "assay-complaint-receipt.txt";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      status.textContent = "Saved as assay-complaint-receipt.txt in your downloads. Keep the file where only you can reach it.";
    });
    // Leaving the page before saying the words are kept asks first: they are shown only this once.
    window.addEventListener("beforeunload", function (event) {
      if (written.checked) return;
      event.preventDefault();
      event.returnValue = "";
    });
    var section = $("receipt");
    section.hidden = false;
    section.focus();
  }

  function selectWords(list, status) {
    var range = document.createRange();
    range.selectNodeContents(list);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    status.textContent = "The words are selected: press Ctrl+C (or Cmd+C) to copy them.";
  }

  // --- filing a complaint ---------------------------------------------------------------------------------

  function setUpComplaintForm(form) {
    var ds = form.dataset, progress = $("progress"), errorBox = $("error"), button = $("send");
    var fileInput = $("f-files");
    var sendUncleaned = false; // set once the person has been told which photos could not be cleaned
    document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
    var notice = $("mode-notice");
    if (notice) notice.dataset.mode = "browser";
    fileInput.addEventListener("change", function () {
      sendUncleaned = false;
      describeFiles(fileInput, $("file-notes"));
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      errorBox.hidden = true;
      button.disabled = true;
      var sodium, receiptWords, keys, ciphertext, attachments, ownCopy = null;
      var fields = {};
      var keepCopy = $("f-keep-copy") ? $("f-keep-copy").checked : false;
      FIELDS.forEach(function (k) { var el = form.elements[k]; fields[k] = el ? el.value.trim() : ""; });
      sodiumReady().then(function (s) {
        sodium = s;
        if (fileInput.files.length > Number(ds.maxAttachments)) throw new Error("Attach at most " + ds.maxAttachments + " files.");
        progress.textContent = "Preparing attachments…";
        return prepareFiles(fileInput.files);
      }).then(function (prepared) {
        attachments = prepared;
        var warning = uncleanedWarning(attachments);
        if (warning && !sendUncleaned) {
          sendUncleaned = true;
          markUncleaned($("file-notes"), attachments);
          throw warning;
        }
        progress.textContent = "Making your receipt…";
        return wordlist();
      }).then(function (words) {
        var entropy = sodium.randombytes_buf(16);
        receiptWords = entropyToWords(sodium, entropy, words);
        keys = deriveKeys(sodium, entropy, ds);
        progress.textContent = "Encrypting your complaint…";
        var container = packComplaint(sodium, "complaint", ds.systemId, fields, attachments, keys.replyPublic);
        ciphertext = seal(sodium, container, unb64(sodium, ds.key));
        container.fill(0);
        checkSize(ds, ciphertext);
        if (keepCopy) ownCopy = sealOwnCopy(sodium, "complaint", ds.systemId, fields, attachments, keys.copy);
        progress.textContent = "Checking that this is not a flood of messages (a few seconds; longer while " +
          "the register is flooded)…";
        var body = {
          system_id: ds.systemId, key_id: ds.keyId, ciphertext: b64(sodium, ciphertext),
          access_key: b64(sodium, keys.access), reply_public_key: b64(sodium, keys.replyPublic),
        };
        if (ownCopy) body.own_copy = b64(sodium, ownCopy);
        return sendPaid(sodium, "/api/v1/complaints", body, progress);
      }).then(function (answer) {
        form.reset();
        form.hidden = true;
        showReceipt(receiptWords, answer);
        progress.textContent = "";
      }).catch(function (err) {
        progress.textContent = "";
        button.disabled = false;
        showError(errorBox, err);
      });
    });
  }

  // --- following up with the receipt ----------------------------------------------------------------------

  function setUpFollowUp(form) {
    var ds = form.dataset, progress = $("progress"), errorBox = $("error");
    var session = null; // { sodium, keys } while the page is open; never stored

    function render(data) {
      var sodium = session.sodium;
      $("case-title").textContent = "Your complaint about " + data.system_name;
      $("case-status").textContent = data.status_label;
      $("case-received").textContent = data.received_on;
      $("case-deadlines").textContent = "Acknowledgement by " + data.acknowledge_by + "; an answer by " +
        data.answer_by + ".";
      document.querySelectorAll(".js-deadlines").forEach(function (el) { el.hidden = !!data.closed; });
      var history = $("case-history");
      history.textContent = "";
      data.history.forEach(function (h) {
        var li = document.createElement("li"); li.textContent = h.day + ": " + h.label; history.appendChild(li);
      });
      var list = $("case-messages");
      list.textContent = "";
      data.messages.forEach(function (m) {
        var li = document.createElement("li"), meta = document.createElement("p");
        meta.className = "meta";
        if (m.kind === "reply") {
          li.className = "reply";
          meta.textContent = m.day + " · reply from the oversight body";
          var text = document.createElement("div");
          text.className = "text";
          try {
            var plain = openSealed(sodium, unb64(sodium, m.ciphertext), session.keys.replyPublic, session.keys.replyPrivate);
            var magic = enc.encode(MESSAGE_MAGIC);
            if (plain.length < magic.length || dec.decode(plain.slice(0, magic.length)) !== MESSAGE_MAGIC) throw new Error("bad");
            text.textContent = dec.decode(plain.slice(magic.length));
          } catch (e) {
            text.textContent = "(This reply could not be decrypted with your receipt.)";
          }
          li.appendChild(meta);
          li.appendChild(text);
        } else {
          li.className = "mine";
          meta.textContent = m.day + (m.kind === "complaint" ? " · you filed the complaint" : " · you added information");
          li.appendChild(meta);
          var note = document.createElement("p");
          note.className = "hint";
          if (!m.own_copy) {
            note.textContent = "No copy was kept for you: only the oversight body can read it.";
            li.appendChild(note);
          } else {
            try {
              li.appendChild(renderOwnCopy(openOwnCopy(sodium, unb64(sodium, m.own_copy), session.keys.copy)));
            } catch (e) {
              note.textContent = "Your copy could not be opened with this receipt.";
              li.appendChild(note);
            }
          }
        }
        list.appendChild(li);
      });
      $("information-form").hidden = !!data.closed;
      var section = $("case");
      section.hidden = false;
      section.focus();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      errorBox.hidden = true;
      var text = form.elements.receipt.value;
      var sodium;
      sodiumReady().then(function (s) {
        sodium = s;
        progress.textContent = "Opening your complaint…";
        return wordlist();
      }).then(function (words) {
        var keys = deriveKeys(sodium, wordsToEntropy(sodium, text, words), ds);
        session = { sodium: sodium, keys: keys };
        return proofOfWork(sodium, 0, "lookup").then(function (pow) {
          return postJSON("/api/v1/complaints/lookup", { access_key: b64(sodium, keys.access), pow: pow });
        });
      }).then(function (data) {
        progress.textContent = "";
        form.hidden = true;
        render(data);
      }).catch(function (err) {
        progress.textContent = "";
        session = null;
        showError(errorBox, err);
      });
    });

    var info = $("information-form"), infoFiles = $("i-files"), infoProgress = $("i-progress");
    var infoSendUncleaned = false;
    infoFiles.addEventListener("change", function () {
      infoSendUncleaned = false;
      describeFiles(infoFiles, $("i-file-notes"));
    });
    info.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!session) return;
      var sodium = session.sodium, ciphertext, ownCopy = null;
      var what = info.elements.what.value.trim();
      var button = info.querySelector("button");
      button.disabled = true;
      infoProgress.textContent = "Preparing attachments…";
      prepareFiles(infoFiles.files).then(function (attachments) {
        if (!what && !attachments.length) throw new Error("Write something or attach a file to add.");
        var warning = uncleanedWarning(attachments);
        if (warning && !infoSendUncleaned) {
          infoSendUncleaned = true;
          markUncleaned($("i-file-notes"), attachments);
          throw warning;
        }
        infoProgress.textContent = "Encrypting…";
        var container = packComplaint(sodium, "information", "", { what: what }, attachments);
        ciphertext = seal(sodium, container, unb64(sodium, ds.key));
        checkSize(ds, ciphertext, infoFiles.files);
        ownCopy = $("i-keep-copy").checked ?
          sealOwnCopy(sodium, "information", "", { what: what }, attachments, session.keys.copy) : null;
        infoProgress.textContent = "Checking that this is not a flood of messages…";
        var body = { key_id: ds.keyId, ciphertext: b64(sodium, ciphertext), access_key: b64(sodium, session.keys.access) };
        if (ownCopy) body.own_copy = b64(sodium, ownCopy);
        return sendPaid(sodium, "/api/v1/complaints/information", body, infoProgress);
      }).then(function (data) {
        info.reset();
        $("i-file-notes").textContent = "";
        infoProgress.textContent = "Your information was encrypted in your browser and added.";
        button.disabled = false;
        render(data);
      }).catch(function (err) {
        infoProgress.textContent = "";
        button.disabled = false;
        showError(errorBox, err);
      });
    });
  }

  function start() {
    var f = $("complaint-form");
    if (f) setUpComplaintForm(f);
    var u = $("follow-up-form");
    if (u) setUpFollowUp(u);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  // For tests and curious readers: the same functions the forms use.
  window.assayComplaints = {
    sodiumReady: sodiumReady, seal: seal, openSealed: openSealed, packComplaint: packComplaint,
    padmeLength: padmeLength, entropyToWords: entropyToWords, wordsToEntropy: wordsToEntropy,
    deriveKeys: deriveKeys, wordlist: wordlist, sealOwnCopy: sealOwnCopy, openOwnCopy: openOwnCopy,
  };
})();
