# ganphon's lme4 engine: fit each model of a job table with lme4 + lmerTest (ML) and write one
# row per fixed-effect term.  Usage: Rscript lme4_fit.R JOBS.csv OUT.csv
#
# JOBS.csv columns: id, frame (CSV path), outcome, rhs, null_rhs, structures (';'-separated, tried in
# order: slope = (value | base), uncorrelated = (1 | base) + (0 + value_c | base), intercept =
# (1 | base)), reml (0/1), factors ('name=level1|level2;...', the factor levels in ganphon's order).
# Every lmer fit (full, null, REML) is run with nloptwrap, bobyqa and Nelder_Mead and restarted from the
# best estimates (and from 3x, 1/3x them, and off the boundary); the highest likelihood is kept (lme4's default optimiser alone stops short on some
# frames, without a warning).  A structure is left only when lmer fails (an error or a non-finite likelihood); singular (boundary)
# fits are kept and flagged, as lme4 does.  When every structure fails, lm() is fitted.
# Fixed effects: estimate, se, Satterthwaite df, t, p (lmerTest).  family = binomial (a 0/1 outcome):
# glmer by the Laplace approximation (nAGQ = 1), z tests, glm() when every structure fails.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript lme4_fit.R JOBS.csv OUT.csv")
jobs <- read.csv(args[1], stringsAsFactors = FALSE, colClasses = "character")

re_terms <- c(slope = "(value | base)", uncorrelated = "(1 | base) + (0 + value_c | base)",
              intercept = "(1 | base)")

r_rhs <- function(rhs) gsub("C\\(([A-Za-z_][A-Za-z0-9_]*)\\)", "\\1", rhs)

capture <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(message = conditionMessage(e)), class = "fit_error")),
    warning = function(w) {
      msgs <<- c(msgs, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) invokeRestart("muffleMessage"))
  list(value = value, messages = msgs)
}

# Optimisers every fit is tried with; the highest likelihood is kept, then refitted from its own
# estimates, from 3x and 1/3x them, and off the boundary (restarts) until no restart improves it by
# more than 1e-6.
optimisers <- c("nloptwrap", "bobyqa", "Nelder_Mead")

one_fit <- function(formula, d, reml, optimizer, start = NULL, family = "gaussian") {
  fml <- as.formula(formula)
  if (family == "binomial") {
    # Laplace (nAGQ = 1); the inner PIRLS converged tightly (its default 1e-7 leaves the deviance ~1e-5 off)
    ctrl <- glmerControl(optimizer = optimizer, check.conv.singular = "ignore", tolPwrss = 1e-12)
    return(capture(if (is.null(start)) glmer(fml, data = d, family = binomial, control = ctrl)
                   else glmer(fml, data = d, family = binomial, control = ctrl, start = start)))
  }
  ctrl <- lmerControl(optimizer = optimizer, check.conv.singular = "ignore")
  capture(if (is.null(start)) lmerTest::lmer(fml, data = d, REML = reml, control = ctrl)
          else lmerTest::lmer(fml, data = d, REML = reml, control = ctrl, start = list(theta = start)))
}

# The best of several optimisers and restarts: list(value, messages, optimizer, default_llf, tried).
# `value` is the fit of the highest (RE)ML criterion; `default_llf` that of lme4's default optimiser.
fit_lmer <- function(formula, d, reml, family = "gaussian") {
  crit <- function(f) if (inherits(f$value, "fit_error")) -Inf else {
    v <- as.numeric(logLik(f$value)); if (is.finite(v)) v else -Inf }
  fits <- lapply(optimisers, function(o) one_fit(formula, d, reml, o, family = family))
  names(fits) <- optimisers
  llfs <- sapply(fits, crit)
  best <- which.max(llfs)
  if (!is.finite(llfs[best])) return(c(fits[[1]], list(optimizer = optimisers[1], default_llf = NA_real_,
                                                       tried = length(fits))))
  chosen <- fits[[best]]
  label <- optimisers[best]
  top <- llfs[best]
  tried <- length(fits)
  for (round in 1:3) {
    improved <- FALSE
    theta <- getME(chosen$value, "theta")
    lower <- getME(chosen$value, "lower")
    # restarts from the best estimates; with a variance at its bound (a diagonal theta of 0, stationary
    # whatever the likelihood does off it) moved off the bound; and from 3 x and 1/3 x the estimates
    # (another local maximum: lme4's optimisers can all stop at a lower one)
    off <- theta
    off[lower == 0 & theta <= 1e-6] <- 0.1 * max(1, abs(theta))
    starts <- list(list(theta, "bobyqa", "restart"), list(theta, "Nelder_Mead", "restart"),
                   list(theta * 3, "bobyqa", "restart from 3 theta"), list(theta / 3, "bobyqa", "restart from theta/3"))
    if (any(off != theta)) starts <- c(list(list(off, "bobyqa", "restart off the boundary"),
                                            list(off, "Nelder_Mead", "restart off the boundary")), starts)
    for (st in starts) {
      start <- if (family == "binomial") list(theta = st[[1]], fixef = fixef(chosen$value)) else st[[1]]
      again <- one_fit(formula, d, reml, st[[2]], start, family)
      tried <- tried + 1
      v <- crit(again)
      if (v > top + 1e-6) {
        chosen <- again; top <- v; label <- paste0(st[[2]], " (", st[[3]], ")"); improved <- TRUE
      }
    }
    if (!improved) break
  }
  chosen$optimizer <- label
  chosen$default_llf <- llfs[[1]]
  chosen$tried <- tried
  chosen
}

short_note <- function(fit, what) {
  gap <- as.numeric(logLik(fit$value)) - fit$default_llf
  if (is.finite(gap) && gap > 1e-4)
    sprintf("%slme4's default optimiser (nloptwrap) stopped %.3g log-likelihood units below the maximum (%s kept)",
            what, gap, fit$optimizer)
  else if (!is.finite(fit$default_llf))
    sprintf("%slme4's default optimiser (nloptwrap) failed (%s kept)", what, fit$optimizer)
  else character(0)
}

var_sds <- function(m, structure) {
  vc <- as.data.frame(VarCorr(m))
  get <- function(var1, var2 = NA) {
    row <- vc[vc$grp == "base" & vc$var1 %in% var1 & (if (is.na(var2)) is.na(vc$var2) else vc$var2 %in% var2), ]
    if (nrow(row) == 0) return(NA_real_)
    row$sdcor[1]
  }
  c(sd_base = get("(Intercept)"),
    sd_value = if (structure == "intercept") NA_real_ else get(c("value", "value_c")),
    corr = if (structure == "slope") get("(Intercept)", "value") else NA_real_,
    sd_resid = vc$sdcor[vc$grp == "Residual"][1])
}

rows <- list()
for (i in seq_len(nrow(jobs))) {
  job <- jobs[i, ]
  d <- read.csv(job$frame, stringsAsFactors = FALSE)
  d$base <- factor(d$base)
  d$value_c <- d$value - mean(d$value)
  if (nzchar(job$factors)) {
    for (spec in strsplit(job$factors, ";", fixed = TRUE)[[1]]) {
      parts <- strsplit(spec, "=", fixed = TRUE)[[1]]
      d[[parts[1]]] <- factor(as.character(d[[parts[1]]]), levels = strsplit(parts[2], "|", fixed = TRUE)[[1]])
    }
  }
  rhs <- r_rhs(job$rhs)
  null_rhs <- r_rhs(job$null_rhs)
  reml <- job$reml == "1"
  family <- if (is.null(job$family) || !nzchar(job$family)) "gaussian" else job$family
  notes <- character(0)
  done <- FALSE
  t0 <- proc.time()[["elapsed"]]
  for (structure in strsplit(job$structures, ";", fixed = TRUE)[[1]]) {
    re <- re_terms[[structure]]
    full <- fit_lmer(paste(job$outcome, "~", rhs, "+", re), d, FALSE, family)
    null <- fit_lmer(paste(job$outcome, "~", null_rhs, "+", re), d, FALSE, family)
    failure <- NULL
    if (inherits(full$value, "fit_error")) failure <- paste("lmer:", full$value$message)
    else if (inherits(null$value, "fit_error")) failure <- paste("lmer (model without value):", null$value$message)
    else if (!is.finite(as.numeric(logLik(full$value))) || !is.finite(as.numeric(logLik(null$value))))
      failure <- "non-finite log-likelihood"
    if (!is.null(failure)) {
      notes <- c(notes, paste0(structure, " model dropped: ", failure))
      next
    }
    reported <- full
    if (reml && family == "gaussian") reported <- fit_lmer(paste(job$outcome, "~", rhs, "+", re), d, TRUE)
    m <- reported$value
    coefs <- summary(m)$coefficients
    conv <- unique(c(full$value@optinfo$conv$lme4$messages, full$messages, null$messages))
    # messages of the kept fits only; a convergence warning of a fit that was beaten is not about it
    notes <- c(notes, short_note(full, ""), short_note(null, "model without value: "))
    if (reml && family == "gaussian") notes <- c(notes, short_note(reported, "REML fit: "))
    sing <- isSingular(full$value, tol = 1e-4)
    if (sing) notes <- c(notes, "boundary (singular) fit")
    sds <- var_sds(full$value, structure)
    rows[[length(rows) + 1]] <- data.frame(
      id = job$id, structure = structure, term = rownames(coefs), estimate = coefs[, "Estimate"],
      se = coefs[, "Std. Error"], df = if (family == "binomial") Inf else coefs[, "df"],
      t = coefs[, if (family == "binomial") "z value" else "t value"],
      p = coefs[, if (family == "binomial") "Pr(>|z|)" else "Pr(>|t|)"],
      llf = as.numeric(logLik(full$value)), llf_null = as.numeric(logLik(null$value)),
      k_params = attr(logLik(full$value), "df"), k_null = length(fixef(null$value)),
      singular = sing, sd_base = sds[["sd_base"]], sd_value = sds[["sd_value"]], corr = sds[["corr"]],
      sd_resid = sds[["sd_resid"]], seconds = proc.time()[["elapsed"]] - t0,
      optimizer = full$optimizer, optimizer_null = null$optimizer,
      llf_default = full$default_llf, llf_null_default = null$default_llf, tried = full$tried + null$tried,
      warnings = paste(unique(c(notes, if (length(conv)) paste("lme4:", unique(conv)))), collapse = "; "),
      stringsAsFactors = FALSE)
    done <- TRUE
    break
  }
  if (!done) {
    fam <- if (family == "binomial") binomial() else gaussian()
    full <- glm(as.formula(paste(job$outcome, "~", rhs)), data = d, family = fam)
    null <- glm(as.formula(paste(job$outcome, "~", null_rhs)), data = d, family = fam)
    coefs <- summary(full)$coefficients
    rows[[length(rows) + 1]] <- data.frame(
      id = job$id, structure = "ols", term = rownames(coefs), estimate = coefs[, 1], se = coefs[, 2],
      df = if (family == "binomial") Inf else full$df.residual, t = coefs[, 3], p = coefs[, 4],
      llf = as.numeric(logLik(full)),
      llf_null = as.numeric(logLik(null)), k_params = attr(logLik(full), "df"), k_null = length(coef(null)),
      singular = FALSE, sd_base = NA_real_, sd_value = NA_real_, corr = NA_real_,
      sd_resid = sqrt(sum(residuals(full)^2) / nrow(d)), seconds = proc.time()[["elapsed"]] - t0,
      optimizer = "lm", optimizer_null = "lm", llf_default = as.numeric(logLik(full)),
      llf_null_default = as.numeric(logLik(null)), tried = 2,
      warnings = paste(notes, collapse = "; "), stringsAsFactors = FALSE)
  }
}
out <- if (length(rows)) do.call(rbind, rows) else data.frame()
write.csv(out, args[2], row.names = FALSE)
