//! `trainer features`: photos -> CLIP features keyed by item id, resumable, bad files reported by
//! name while the batch goes on; and the original `.npy` layout imported.

use std::path::{Path, PathBuf};

mod common;
use common::{temp_dir, trainer};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/clip")
}

fn read_keys(path: &Path) -> Vec<(String, Vec<usize>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<_> = st.tensors().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    v.sort();
    v
}

#[test]
fn photos_become_features_keyed_by_item_id_and_resume() {
    let dir = temp_dir("photos");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    for (src, item) in [("coffee_330x220.png", "B000COFFEE"), ("chelsea_150x100.png", "B0000CAT01")]
    {
        std::fs::copy(fixtures().join("photos").join(src), images.join(format!("{item}.png")))
            .unwrap();
    }
    std::fs::write(images.join("B0BROKEN01.jpg"), b"not a jpeg at all").unwrap();
    let out = dir.join("features.safetensors");
    let clip = fixtures().join("tiny/model.safetensors");
    let args = [
        "features",
        "--clip",
        clip.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "2",
    ];
    let (ok, stdout, stderr) = trainer(&args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("B0BROKEN01.jpg"), "the bad file is named: {stderr}");
    assert!(stdout.contains("wrote 2 features (2 new, 1 unreadable)"), "{stdout}");
    assert_eq!(
        read_keys(&out),
        vec![("B0000CAT01".to_string(), vec![16]), ("B000COFFEE".to_string(), vec![16])]
    );

    // a new photo: only it is computed
    std::fs::copy(fixtures().join("photos/astronaut_240x240.png"), images.join("B00ASTRO01.png"))
        .unwrap();
    let (ok, stdout, stderr) = trainer(&args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("resuming: 2 items already done"), "{stderr}");
    assert!(stdout.contains("wrote 3 features (1 new, 1 unreadable)"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn original_npy_layout_is_imported() {
    let dir = temp_dir("npy");
    let split = dir.join("vitb32_features/beauty");
    std::fs::create_dir_all(&split).unwrap();
    // a hand-written .npy: version 1.0 header, '<f4', shape (3,)
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&((header.len() + pad + 1) as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend(std::iter::repeat_n(b' ', pad));
    npy.push(b'\n');
    for x in [1.5f32, -2.0, 0.25] {
        npy.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(split.join("B004ZT0SSG.npy"), &npy).unwrap();
    std::fs::write(split.join("B000BROKEN.npy"), b"garbage").unwrap();
    let out = dir.join("features.safetensors");
    let (ok, stdout, stderr) = trainer(&[
        "features",
        "--npy-dir",
        split.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wrote 1 features of dimension 3"), "{stdout}");
    assert!(stderr.contains("B000BROKEN.npy"), "{stderr}");
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("B004ZT0SSG").unwrap();
    let v: Vec<f32> =
        t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(v, vec![1.5, -2.0, 0.25]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_without_vision_tensors_is_a_clear_error() {
    let dir = temp_dir("novision");
    let t5 = fixtures().join("../t5_relu_tied/model.safetensors");
    let (ok, _, stderr) = trainer(&[
        "features",
        "--clip",
        t5.to_str().unwrap(),
        "--images",
        dir.to_str().unwrap(),
        "--out",
        dir.join("f.safetensors").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("no CLIP vision tensors"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full disk while the features file is written (injected as a file-size limit: EFBIG, the same
/// error path as ENOSPC): the run stops saying which file and that the previous one is intact;
/// that file holds every batch written before and reads back; resuming with room again ends
/// with the features of an uninterrupted run.
#[test]
fn a_write_error_keeps_the_last_features_file_and_resumes() {
    let dir = temp_dir("features-full-disk");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let sources = ["coffee_330x220.png", "chelsea_150x100.png", "astronaut_240x240.png"];
    for i in 0..30 {
        std::fs::copy(
            fixtures().join("photos").join(sources[i % 3]),
            images.join(format!("B{i:09}.png")),
        )
        .unwrap();
    }
    let clip = fixtures().join("tiny/model.safetensors");
    let args = |out: &Path| {
        vec![
            "features".to_string(),
            "--clip".into(),
            clip.display().to_string(),
            "--images".into(),
            images.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--batch-size".into(),
            "1".into(),
        ]
    };
    let bin = env!("CARGO_BIN_EXE_trainer");
    let whole = dir.join("whole.safetensors");
    let refs: Vec<String> = args(&whole);
    let (ok, _, stderr) = trainer(&refs.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{stderr}");
    assert!(std::fs::metadata(&whole).unwrap().len() > 2048, "30 features pass the 1 KiB limit");

    // A 1 KiB file-size limit: the file grows one feature per batch until a write passes it.
    let cut = dir.join("cut.safetensors");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"")
        .arg(bin)
        .args(args(&cut))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cut.tmp") && stderr.contains("cut.safetensors is unchanged"),
        "{stderr}"
    );
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(!dir.join("cut.tmp").exists(), "no half-written file is left");
    let kept = read_keys(&cut);
    assert!(!kept.is_empty() && kept.len() < 30, "{} features kept", kept.len());
    assert!(std::fs::metadata(&cut).unwrap().len() <= 1024);

    // With room again: only the rest is computed, and the file equals the uninterrupted run's.
    let refs = args(&cut);
    let (ok, stdout, stderr) = trainer(&refs.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("resuming: {} items already done", kept.len())), "{stderr}");
    assert!(stdout.contains(&format!("wrote 30 features ({} new, 0 unreadable)", 30 - kept.len())));
    assert_eq!(std::fs::read(&cut).unwrap(), std::fs::read(&whole).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
