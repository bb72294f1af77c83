//! Einsum (the attention and batched-matmul patterns exporters emit, e.g. `bhid,bhjd->bhij`,
//! `bij,bjk->bik`, `...ij,...jk->...ik`). The gradient of operand `k` is the Einsum of the
//! upstream gradient with every other operand, written to `k`'s subscripts; an index only `k`
//! carries (summed away in the forward pass) is broadcast back by Unsqueeze and Expand.
//! Repeated indices within one operand (diagonals, traces) are refused.

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Dim, Node};

/// An equation with every ellipsis spelt out as letters and the output made explicit.
struct Equation {
    operands: Vec<Vec<char>>,
    output: Vec<char>,
}

/// Parses `equation` for operands of ranks `ranks`: each `...` becomes the same fresh
/// letters (right-aligned across operands, as numpy broadcasts), and an implicit output is
/// the ellipsis then the letters used once, in alphabetical order.
fn parse(equation: &str, ranks: &[usize]) -> Result<Equation, String> {
    let equation: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (equation.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != ranks.len() {
        return Err(format!(
            "{} subscripts for {} operands",
            terms.len(),
            ranks.len()
        ));
    }
    let used: Vec<char> = equation.chars().filter(char::is_ascii_alphabetic).collect();
    let mut fresh = ('A'..='Z').chain('a'..='z').filter(|c| !used.contains(c));
    let mut widest = 0;
    for (term, &rank) in terms.iter().zip(ranks) {
        if term.contains("...") {
            let explicit = term.chars().filter(char::is_ascii_alphabetic).count();
            widest = widest.max(rank.checked_sub(explicit).ok_or("too many subscripts")?);
        }
    }
    let ellipsis: Vec<char> = (0..widest).map_while(|_| fresh.next()).collect();
    if ellipsis.len() != widest {
        return Err("too many indices".into());
    }
    let expand = |term: &str, width: usize| -> Result<Vec<char>, String> {
        let (before, after) = term.split_once("...").unwrap_or((term, ""));
        let letters = |s: &str| -> Result<Vec<char>, String> {
            s.chars()
                .map(|c| {
                    c.is_ascii_alphabetic()
                        .then_some(c)
                        .ok_or_else(|| format!("'{c}' is not a subscript"))
                })
                .collect()
        };
        let mut out = letters(before)?;
        if term.contains("...") {
            out.extend(&ellipsis[ellipsis.len() - width..]);
        }
        out.extend(letters(after)?);
        Ok(out)
    };
    let mut operands = Vec::with_capacity(terms.len());
    for (term, &rank) in terms.iter().zip(ranks) {
        let explicit = term.chars().filter(char::is_ascii_alphabetic).count();
        let width = if term.contains("...") {
            rank - explicit
        } else {
            0
        };
        let subscripts = expand(term, width)?;
        if subscripts.len() != rank {
            return Err(format!("subscripts '{term}' for an operand of rank {rank}"));
        }
        operands.push(subscripts);
    }
    let output = match rhs {
        Some(rhs) => expand(rhs, widest)?,
        None => {
            let all: Vec<char> = operands.iter().flatten().copied().collect();
            let mut once: Vec<char> = all
                .iter()
                .copied()
                .filter(|c| !ellipsis.contains(c) && all.iter().filter(|d| *d == c).count() == 1)
                .collect();
            once.sort_unstable();
            ellipsis.iter().copied().chain(once).collect()
        }
    };
    Ok(Equation { operands, output })
}

fn text(subscripts: &[char]) -> String {
    subscripts.iter().collect()
}

/// `dA_k = Einsum(g, A_others -> a_k)`, then broadcast over the indices only `A_k` has.
pub(super) fn einsum(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let equation = node.string("equation").unwrap_or_default().to_string();
    let refuse = |why: String| format!("einsum '{equation}': {why}");
    let ranks = node
        .inputs
        .iter()
        .map(|i| ctx.rank(i))
        .collect::<Result<Vec<_>, _>>()?;
    let eq = parse(&equation, &ranks).map_err(refuse)?;
    for (k, subscripts) in eq.operands.iter().enumerate() {
        let mut sorted = subscripts.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != subscripts.len() {
            return Err(refuse(format!("operand {k} repeats an index (a diagonal)")));
        }
    }
    // Shared indices must have equal sizes: a size-1 index broadcast against a larger one
    // would need its gradient summed, which these rules do not do.
    let shapes = node
        .inputs
        .iter()
        .map(|i| ctx.shape(i))
        .collect::<Result<Vec<_>, _>>()?;
    for (k, (subscripts, shape)) in eq.operands.iter().zip(&shapes).enumerate() {
        for (j, other) in eq.operands.iter().enumerate().skip(k + 1) {
            for (a, c) in subscripts.iter().enumerate() {
                if let Some(b) = other.iter().position(|d| d == c) {
                    if shape[a] != shapes[j][b] {
                        return Err(refuse(format!("index '{c}' is broadcast")));
                    }
                }
            }
        }
    }
    let mut grads = Vec::with_capacity(node.inputs.len());
    for (k, input) in node.inputs.iter().enumerate() {
        if !ctx.needs(input) {
            grads.push(None);
            continue;
        }
        let target = &eq.operands[k];
        let elsewhere = |c: &char| {
            eq.output.contains(c)
                || eq
                    .operands
                    .iter()
                    .enumerate()
                    .any(|(j, s)| j != k && s.contains(c))
        };
        let kept: Vec<char> = target.iter().copied().filter(elsewhere).collect();
        let mut terms = vec![text(&eq.output)];
        let mut inputs = vec![g.as_str()];
        for (j, other) in node.inputs.iter().enumerate().filter(|(j, _)| *j != k) {
            terms.push(text(&eq.operands[j]));
            inputs.push(other);
        }
        let backward = format!("{}->{}", terms.join(","), text(&kept));
        let mut dx = ctx.emit("Einsum", &inputs, vec![("equation", Attr::Str(backward))]);
        if kept.len() != target.len() {
            let axes: Vec<i64> = (0..target.len())
                .filter(|&a| !elsewhere(&target[a]))
                .map(|a| a as i64)
                .collect();
            if axes
                .iter()
                .any(|&a| !matches!(shapes[k][a as usize], Dim::Fixed(_)))
            {
                return Err(refuse("a summed-away index follows the batch size".into()));
            }
            let axes = ctx.ints(&axes);
            let unsqueezed = ctx.emit("Unsqueeze", &[&dx, &axes], vec![]);
            let shape = ctx.emit("Shape", &[input], vec![]);
            dx = ctx.emit("Expand", &[&unsqueezed, &shape], vec![]);
        }
        grads.push(Some(dx));
    }
    Ok(grads)
}
