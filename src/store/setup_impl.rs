//! The one implementation of [`SetupStore`](super::SetupStore), instantiated for each backend by
//! `impl_setup_store!` with the backend's store type, sqlx database and
//! [`Dialect`](super::sql::Dialect), like the engine's store: the SQL is written once in
//! PostgreSQL's dialect and translated for SQLite.
//!
//! The expansion sits in an anonymous `const` block so its imports cannot clash with the
//! backend file's own.

/// Implements `SetupStore` for `$store` (with a `pool` and a `write()` that begins a write
/// transaction) on database `$db`, translating statements with `$dialect`.
macro_rules! impl_setup_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use uuid::Uuid;
            use $crate::domain::{CloudPair, NetworkMapping, PairState, ReplicationPolicy, Stamp};
            use $crate::store::StoreError;
            use $crate::store::setup::{
                Deletion, PAIR_COLUMNS, POLICY_COLUMNS, PairRow, PolicyRow, STAMP_COLUMNS,
                SetupStore, StampRow, conflict_on_violation, key, mapping_from,
            };

            fn sql(text: &str) -> String {
                $dialect.sql(text)
            }

            type SetupTx = sqlx::Transaction<'static, $db>;

            /// The ids of the pairs that use a stamp or a policy (by the given condition).
            async fn pairs_where(
                tx: &mut SetupTx,
                condition: &str,
                value: &str,
            ) -> Result<Vec<Uuid>, StoreError> {
                let ids: Vec<(String,)> = sqlx::query_as(&sql(&format!(
                    "SELECT id FROM cloud_pairs WHERE {condition} ORDER BY id"
                )))
                .bind(value)
                .fetch_all(&mut **tx)
                .await?;
                ids.into_iter()
                    .map(|(id,)| {
                        Uuid::parse_str(&id).map_err(|_| {
                            StoreError::Corrupt(format!("cloud_pairs.id holds '{id}'"))
                        })
                    })
                    .collect()
            }

            async fn pair_exists(tx: &mut SetupTx, id: &str) -> Result<bool, StoreError> {
                let found: Option<(String,)> =
                    sqlx::query_as(&sql("SELECT id FROM cloud_pairs WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                Ok(found.is_some())
            }

            #[async_trait::async_trait]
            impl SetupStore for $store {
                async fn insert_stamp(&self, stamp: &Stamp) -> Result<(), StoreError> {
                    use secrecy::ExposeSecret as _;
                    sqlx::query(&sql(&format!(
                        "INSERT INTO stamps ({STAMP_COLUMNS}, name_key) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                    )))
                    .bind(stamp.id.to_string())
                    .bind(&stamp.name)
                    .bind(&stamp.spf_url)
                    .bind(&stamp.spf_username)
                    .bind(stamp.spf_password.expose_secret())
                    .bind(stamp.spf_stamp_id.map(|id| id.to_string()))
                    .bind(&stamp.wap_admin_url)
                    .bind(stamp.wap_admin_token.expose_secret())
                    .bind(&stamp.tenant_portal_url)
                    .bind(stamp.auto_failover)
                    .bind(key(&stamp.name))
                    .execute(&self.pool)
                    .await
                    .map_err(conflict_on_violation)?;
                    Ok(())
                }

                async fn update_stamp(&self, stamp: &Stamp) -> Result<bool, StoreError> {
                    use secrecy::ExposeSecret as _;
                    let done = sqlx::query(&sql(
                        "UPDATE stamps SET name = $2, spf_url = $3, spf_username = $4, \
                         spf_password = $5, spf_stamp_id = $6, wap_admin_url = $7, \
                         wap_admin_token = $8, tenant_portal_url = $9, auto_failover = $10, \
                         name_key = $11 WHERE id = $1",
                    ))
                    .bind(stamp.id.to_string())
                    .bind(&stamp.name)
                    .bind(&stamp.spf_url)
                    .bind(&stamp.spf_username)
                    .bind(stamp.spf_password.expose_secret())
                    .bind(stamp.spf_stamp_id.map(|id| id.to_string()))
                    .bind(&stamp.wap_admin_url)
                    .bind(stamp.wap_admin_token.expose_secret())
                    .bind(&stamp.tenant_portal_url)
                    .bind(stamp.auto_failover)
                    .bind(key(&stamp.name))
                    .execute(&self.pool)
                    .await
                    .map_err(conflict_on_violation)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn set_spf_stamp_id(
                    &self,
                    id: Uuid,
                    spf_stamp_id: Uuid,
                ) -> Result<bool, StoreError> {
                    let done =
                        sqlx::query(&sql("UPDATE stamps SET spf_stamp_id = $2 WHERE id = $1"))
                            .bind(id.to_string())
                            .bind(spf_stamp_id.to_string())
                            .execute(&self.pool)
                            .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn get_stamp(&self, id: Uuid) -> Result<Option<Stamp>, StoreError> {
                    let row: Option<StampRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {STAMP_COLUMNS} FROM stamps WHERE id = $1"
                    )))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(StampRow::into_stamp).transpose()
                }

                async fn list_stamps(&self) -> Result<Vec<Stamp>, StoreError> {
                    let rows: Vec<StampRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {STAMP_COLUMNS} FROM stamps ORDER BY name_key"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(StampRow::into_stamp).collect()
                }

                async fn delete_stamp(&self, id: Uuid) -> Result<Deletion, StoreError> {
                    let id = id.to_string();
                    let mut tx = self.write().await?;
                    let users = pairs_where(
                        &mut tx,
                        "primary_stamp_id = $1 OR recovery_stamp_id = $1",
                        &id,
                    )
                    .await?;
                    if !users.is_empty() {
                        return Ok(Deletion::InUse(users));
                    }
                    let done = sqlx::query(&sql("DELETE FROM stamps WHERE id = $1"))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(if done.rows_affected() == 1 {
                        Deletion::Deleted
                    } else {
                        Deletion::NotFound
                    })
                }

                async fn insert_policy(&self, policy: &ReplicationPolicy) -> Result<(), StoreError> {
                    sqlx::query(&sql(&format!(
                        "INSERT INTO replication_policies ({POLICY_COLUMNS}, name_key) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    )))
                    .bind(&policy.name)
                    .bind(i64::from(policy.copy_frequency_seconds))
                    .bind(i64::from(policy.recovery_points))
                    .bind(i64::from(policy.app_consistent_frequency_hours))
                    .bind(policy.initial_replication.as_str())
                    .bind(policy.compression)
                    .bind(key(&policy.name))
                    .execute(&self.pool)
                    .await
                    .map_err(conflict_on_violation)?;
                    Ok(())
                }

                async fn update_policy(&self, policy: &ReplicationPolicy) -> Result<bool, StoreError> {
                    let done = sqlx::query(&sql(
                        "UPDATE replication_policies SET copy_frequency_seconds = $2, \
                         recovery_points = $3, app_consistent_hours = $4, \
                         initial_replication = $5, compression = $6 WHERE name_key = $1",
                    ))
                    .bind(key(&policy.name))
                    .bind(i64::from(policy.copy_frequency_seconds))
                    .bind(i64::from(policy.recovery_points))
                    .bind(i64::from(policy.app_consistent_frequency_hours))
                    .bind(policy.initial_replication.as_str())
                    .bind(policy.compression)
                    .execute(&self.pool)
                    .await
                    .map_err(conflict_on_violation)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn get_policy(&self, name: &str) -> Result<Option<ReplicationPolicy>, StoreError> {
                    let row: Option<PolicyRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {POLICY_COLUMNS} FROM replication_policies WHERE name_key = $1"
                    )))
                    .bind(key(name))
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(PolicyRow::into_policy).transpose()
                }

                async fn list_policies(&self) -> Result<Vec<ReplicationPolicy>, StoreError> {
                    let rows: Vec<PolicyRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {POLICY_COLUMNS} FROM replication_policies ORDER BY name_key"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(PolicyRow::into_policy).collect()
                }

                async fn delete_policy(&self, name: &str) -> Result<Deletion, StoreError> {
                    let name_key = key(name);
                    let mut tx = self.write().await?;
                    let users = pairs_where(&mut tx, "policy_key = $1", &name_key).await?;
                    if !users.is_empty() {
                        return Ok(Deletion::InUse(users));
                    }
                    let done =
                        sqlx::query(&sql("DELETE FROM replication_policies WHERE name_key = $1"))
                            .bind(&name_key)
                            .execute(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    Ok(if done.rows_affected() == 1 {
                        Deletion::Deleted
                    } else {
                        Deletion::NotFound
                    })
                }

                async fn insert_cloud_pair(&self, pair: &CloudPair) -> Result<(), StoreError> {
                    sqlx::query(&sql(&format!(
                        "INSERT INTO cloud_pairs ({PAIR_COLUMNS}, primary_plan_key, policy_key) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                    )))
                    .bind(pair.id.to_string())
                    .bind(pair.primary.stamp_id.to_string())
                    .bind(&pair.primary.plan_id)
                    .bind(&pair.primary.plan_name)
                    .bind(pair.primary.cloud_id.to_string())
                    .bind(pair.recovery.stamp_id.to_string())
                    .bind(&pair.recovery.plan_id)
                    .bind(&pair.recovery.plan_name)
                    .bind(pair.recovery.cloud_id.to_string())
                    .bind(&pair.policy)
                    .bind(pair.state.as_str())
                    .bind(&pair.error)
                    .bind(pair.test_network_id.map(|id| id.to_string()))
                    .bind(key(&pair.primary.plan_id))
                    .bind(key(&pair.policy))
                    .execute(&self.pool)
                    .await
                    .map_err(conflict_on_violation)?;
                    Ok(())
                }

                async fn get_cloud_pair(&self, id: Uuid) -> Result<Option<CloudPair>, StoreError> {
                    let row: Option<PairRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {PAIR_COLUMNS} FROM cloud_pairs WHERE id = $1"
                    )))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(PairRow::into_pair).transpose()
                }

                async fn list_cloud_pairs(&self) -> Result<Vec<CloudPair>, StoreError> {
                    let rows: Vec<PairRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {PAIR_COLUMNS} FROM cloud_pairs ORDER BY id"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(PairRow::into_pair).collect()
                }

                async fn delete_cloud_pair(&self, id: Uuid) -> Result<bool, StoreError> {
                    let id = id.to_string();
                    let mut tx = self.write().await?;
                    sqlx::query(&sql("DELETE FROM network_mappings WHERE pair_id = $1"))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    let done = sqlx::query(&sql("DELETE FROM cloud_pairs WHERE id = $1"))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn set_pair_state(
                    &self,
                    id: Uuid,
                    state: PairState,
                    error: Option<&str>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(&sql(
                        "UPDATE cloud_pairs SET state = $2, error = $3 WHERE id = $1",
                    ))
                    .bind(id.to_string())
                    .bind(state.as_str())
                    .bind(error)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn set_test_network(
                    &self,
                    id: Uuid,
                    network_id: Option<Uuid>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(&sql(
                        "UPDATE cloud_pairs SET test_network_id = $2 WHERE id = $1",
                    ))
                    .bind(id.to_string())
                    .bind(network_id.map(|n| n.to_string()))
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn replace_network_mappings(
                    &self,
                    id: Uuid,
                    mappings: &[NetworkMapping],
                ) -> Result<bool, StoreError> {
                    let id = id.to_string();
                    let mut tx = self.write().await?;
                    if !pair_exists(&mut tx, &id).await? {
                        return Ok(false);
                    }
                    sqlx::query(&sql("DELETE FROM network_mappings WHERE pair_id = $1"))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    for mapping in mappings {
                        sqlx::query(&sql(
                            "INSERT INTO network_mappings \
                             (pair_id, primary_network_id, recovery_network_id) VALUES ($1, $2, $3)",
                        ))
                        .bind(&id)
                        .bind(mapping.primary_network_id.to_string())
                        .bind(mapping.recovery_network_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict_on_violation)?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn network_mappings(
                    &self,
                    id: Uuid,
                ) -> Result<Option<Vec<NetworkMapping>>, StoreError> {
                    let id = id.to_string();
                    let mut tx = self.pool.begin().await?;
                    if !pair_exists(&mut tx, &id).await? {
                        return Ok(None);
                    }
                    let rows: Vec<(String, String)> = sqlx::query_as(&sql(
                        "SELECT primary_network_id, recovery_network_id FROM network_mappings \
                         WHERE pair_id = $1 ORDER BY primary_network_id",
                    ))
                    .bind(&id)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    rows.into_iter().map(mapping_from).collect::<Result<Vec<_>, _>>().map(Some)
                }
            }
        };
    };
}

pub(super) use impl_setup_store;
