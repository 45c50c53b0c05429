//! The ONNX Runtime embedder against the real library (`FANONE_TEST_ONNXRUNTIME_LIB`,
//! set by `scripts/test.sh` from `scripts/onnxruntime.sh install`; skipped without it
//! unless `FANONE_TEST_REQUIRE_ONNXRUNTIME=1`): the same vectors as tract and as the
//! reference files, views in parallel in order, concurrent callers, bad inputs.

mod common;

use std::sync::{Arc, OnceLock};

use common::{INDEX, MODEL, data, read_f32, tract};
use fanone_embed::{
    DIM, EmbedError, Embedder, INPUT_LEN, Limits, OrtEmbedder, Rect, decode, preprocess,
    query_views, working,
};

fn lib() -> Option<String> {
    match std::env::var("FANONE_TEST_ONNXRUNTIME_LIB") {
        Ok(lib) if !lib.is_empty() => Some(lib),
        _ => {
            assert!(
                std::env::var("FANONE_TEST_REQUIRE_ONNXRUNTIME").as_deref() != Ok("1"),
                "FANONE_TEST_REQUIRE_ONNXRUNTIME=1 but FANONE_TEST_ONNXRUNTIME_LIB is not set"
            );
            eprintln!(
                "no ONNX Runtime: FANONE_TEST_ONNXRUNTIME_LIB is not set (scripts/test.sh sets it)"
            );
            None
        }
    }
}

/// Two sessions: views of one call run in parallel when both are idle.
fn ort() -> Option<&'static OrtEmbedder> {
    static E: OnceLock<OrtEmbedder> = OnceLock::new();
    let lib = lib()?;
    Some(E.get_or_init(|| OrtEmbedder::load(lib, MODEL, 2).expect("load model on ONNX Runtime")))
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[test]
fn same_vectors_as_the_reference_and_as_tract() {
    let Some(e) = ort() else { return };
    for name in ["coffee_alpha.png", "camera.png"] {
        let img = decode(&data(name), &Limits::default()).unwrap();
        let v = e.embed(&img).unwrap();
        assert_eq!(v.len(), DIM);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{name}: norm {norm}");
        // the reference: onnxruntime (Python) on the same input tensor
        let reference = read_f32(&format!("{name}.ort.f32"));
        assert!(
            worst(&v, &reference) < 1e-4,
            "{name}: differs from the reference"
        );
        assert_eq!(e.embed_inputs(&preprocess(&img).unwrap(), 1).unwrap()[0], v);
        assert!(
            worst(&v, &tract().embed(&img).unwrap()) < 1e-4,
            "{name}: differs from tract"
        );
    }
}

#[test]
fn views_come_back_in_order_whether_run_in_parallel_or_not() {
    let Some(e) = ort() else { return };
    let img = decode(&data("astronaut.jpg"), &Limits::default()).unwrap();
    let work = working(&img).unwrap();
    let (w, h) = work.dimensions();
    let mut views = vec![Rect::whole(w, h)];
    views.extend(query_views(&work));
    views.push(Rect {
        x: 0,
        y: 0,
        w: w / 2,
        h: h / 2,
    });
    assert!(views.len() >= 4, "{views:?}");
    let together = e.embed_views(&work, &views).unwrap();
    assert_eq!(together.len(), views.len());
    for (i, view) in views.iter().enumerate() {
        let alone = e.embed_views(&work, std::slice::from_ref(view)).unwrap();
        assert!(
            worst(&together[i], &alone[0]) < 1e-5,
            "view {i} out of order"
        );
        let on_tract = tract()
            .embed_views(&work, std::slice::from_ref(view))
            .unwrap();
        assert!(
            worst(&together[i], &on_tract[0]) < 1e-4,
            "view {i} differs from tract"
        );
    }
    // distinct views give distinct vectors (so the order check above means something)
    assert!(worst(&together[0], &together[views.len() - 1]) > 1e-3);
}

#[test]
fn more_callers_than_sessions_all_get_their_own_answer() {
    let Some(e) = ort() else { return };
    let names = INDEX;
    let images: Vec<_> = names
        .iter()
        .map(|n| decode(&data(n), &Limits::default()).unwrap())
        .collect();
    let expected: Vec<Vec<f32>> = images.iter().map(|img| e.embed(img).unwrap()).collect();
    let images = Arc::new(images);
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let images = images.clone();
            std::thread::spawn(move || {
                (0..4)
                    .map(|k| {
                        let i = (t + k) % images.len();
                        (i, ort().unwrap().embed(&images[i]).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        for (i, v) in t.join().unwrap() {
            assert!(
                worst(&v, &expected[i]) < 1e-5,
                "{}: another caller's answer",
                names[i]
            );
        }
    }
}

#[test]
fn bad_model_files_and_inputs_are_model_errors() {
    let Some(lib) = lib() else { return };
    ort();
    let dir = std::env::temp_dir().join(format!("fanone-ort-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.onnx");
    std::fs::write(&junk, b"not a model").unwrap();
    for path in [junk.as_path(), dir.join("missing.onnx").as_path()] {
        match OrtEmbedder::load(&lib, path, 1) {
            Err(EmbedError::Model(m)) => assert!(m.contains(&*path.to_string_lossy()), "{m}"),
            other => panic!("{}: {other:?}", path.display()),
        }
    }
    // one library per process: another path is refused, not loaded beside it
    match OrtEmbedder::load(dir.join("libonnxruntime.so"), MODEL, 1) {
        Err(EmbedError::Model(m)) => assert!(m.contains("already loaded"), "{m}"),
        other => panic!("{other:?}"),
    }
    let e = ort().unwrap();
    assert!(matches!(
        e.embed_inputs(&[0.0; 10], 1),
        Err(EmbedError::Model(_))
    ));
    assert!(matches!(e.embed_inputs(&[], 0), Err(EmbedError::Model(_))));
    assert_eq!(
        e.embed_inputs(&vec![0.0; 2 * INPUT_LEN], 2).unwrap().len(),
        2
    );
    std::fs::remove_dir_all(&dir).ok();
}
