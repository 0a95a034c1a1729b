/**
 * What a queue's location names: a PostgreSQL URL, or else a SQLite file.
 *
 * @since 0.2.0
 */

/**
 * Is `spec` a PostgreSQL URL (`postgres://` or `postgresql://`)?
 *
 * @since 0.2.0
 * @category predicates
 */
export const isPostgres = (spec: string): boolean => /^postgres(ql)?:\/\//i.test(spec.trim())
