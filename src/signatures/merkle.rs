//! RFC 6962 Merkle trees, as a transparency log proves an entry is in it: the hash of a leaf (its
//! entry's canonicalized body) is `SHA-256(0x00 || body)`, of an inner node `SHA-256(0x01 || left
//! || right)`; an inclusion proof is the audit path from the leaf at `index` to the root of the tree
//! of `size` leaves (the verification algorithm of RFC 9162, section 2.1.3.2).

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf holding `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root an audit path leads to from `leaf` at `index` in a tree of `size` leaves. The error says
/// why the path cannot be one (index outside the tree, a path too long or too short).
pub fn root_from_path(index: u64, size: u64, leaf: Hash, path: &[Hash]) -> Result<Hash, String> {
    if index >= size {
        return Err(format!(
            "the inclusion proof's index {index} is outside its tree of {size} entries"
        ));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return Err("the inclusion proof has more hashes than its tree is deep".to_string());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err("the inclusion proof has fewer hashes than its tree is deep".to_string());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root of leaves by RFC 6962's definition (split at the largest power of two below n).
    fn root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
            }
        }
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// The audit path by RFC 6962's definition.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n == 1 {
            return Vec::new();
        }
        let k = split(n);
        match m < k {
            true => [path(m, &leaves[..k]), vec![root(&leaves[k..])]].concat(),
            false => [path(m - k, &leaves[k..]), vec![root(&leaves[..k])]].concat(),
        }
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_its_way_to_the_root_and_a_flipped_hash_does_not() {
        for n in 1..=9usize {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let want = root(&leaves);
            for (m, leaf) in leaves.iter().enumerate() {
                let p = path(m, &leaves);
                assert_eq!(
                    root_from_path(m as u64, n as u64, *leaf, &p),
                    Ok(want),
                    "{m} of {n}"
                );
                for i in 0..p.len() {
                    let mut bad = p.clone();
                    bad[i][0] ^= 1;
                    assert_ne!(root_from_path(m as u64, n as u64, *leaf, &bad), Ok(want));
                }
                if !p.is_empty() {
                    assert!(root_from_path(m as u64, n as u64, *leaf, &p[1..]).is_err());
                }
            }
            assert!(root_from_path(n as u64, n as u64, leaves[0], &[]).is_err());
        }
    }
}
