# shellcheck shell=bash
# The communities and tournament part of scripts/demo (sourced by it, uses its
# helpers: section, say, die, ctl, table, psql_demo, indent, $game, $run_dir).
# A guild with a referral slug; players join through referral links (COMMUNITY_JOIN
# commands, one with a wallet that fails its checksum); a leaderboard gated on the
# guild; a tournament for the guild that ends during the demo and pays its prizes.

demo_community() {
    local n="$1" file out gid bid tid now start end i
    section "$n. Communities and a tournament"
    file="$run_dir/community.json"
    cat >"$file" <<'JSON'
{"name": "Iron Guild", "description": "The demo's guild", "referralSlug": "iron-guild",
 "redirectUrl": "https://example.com/iron-guild",
 "memberMetadata": {"type": "wallet"},
 "starterReward": {"type": "in_game", "config": {"item": "guild-banner"}},
 "moderationSettings": {"autoApprove": true, "maxMembers": 50}}
JSON
    out=$(ctl community create "$file") || die "bmctl community create"
    say "$out"
    gid=$(awk '{ print $3; exit }' <<<"$out")
    now=$(date +%s)
    start=$(date -u -d "@$((now - 60))" +%Y-%m-%dT%H:%M:%SZ)
    end=$(date -u -d "@$((now + 25))" +%Y-%m-%dT%H:%M:%SZ)
    printf '%s' '{"type":"leaderboard","name":"Guild board",
      "gameId":"'"$game"'","scoringMetadata":{"eventType":"MATCH_END","dataField":"score",
      "aggregation":"sum"},"gating":{"communities":["'"$gid"'"]}}' >"$run_dir/guild-board.json"
    out=$(ctl campaign create "$run_dir/guild-board.json") || die "guild board"
    bid=$(awk '{ print $3; exit }' <<<"$out")
    printf '%s' '{"type":"tournament","name":"Guild cup",
      "gameId":"'"$game"'","startDate":"'"$start"'","endDate":"'"$end"'",
      "gracePeriodSeconds":1,"maxParticipants":5,
      "entryRequirements":{"communities":["'"$gid"'"]},
      "scoringConfig":{"eventType":"MATCH_END","dataField":"score","aggregation":"max"},
      "prizePool":{"totalValue":100,"decimals":2,"rewardType":"in_game",
        "rewardConfig":{"item":"gems"},
        "distribution":[{"rank":1,"percentage":50},{"rank":2,"percentage":30},
                        {"rank":3,"percentage":20}]}}' >"$run_dir/guild-cup.json"
    out=$(ctl campaign create "$run_dir/guild-cup.json") || die "guild cup"
    tid=$(awk '{ print $3; exit }' <<<"$out")
    say "guild board $bid and tournament $tid (ends $end), both gated on the guild"
    for ((i = 0; i < 100; i++)); do
        ctl modules --json 2>/dev/null | jq -e --arg t "$tid" --arg b "$bid" \
            '[.campaigns[] | select(.id == $t or .id == $b)] | length == 2' >/dev/null && break
        sleep 0.1
    done
    # Referral links: /c/iron-guild?ref=alice and ?ref=bob; each join carries the ref.
    for i in 1 2 3 4 5 6; do
        ctl community join iron-guild "guild-p$i" \
            "{\"address\":\"0x$(printf '%040x' $((i * 7919)))\"}" \
            "$([[ $i -le 4 ]] && echo alice || echo bob)" >/dev/null || die "join guild-p$i"
    done
    ctl community join iron-guild guild-bad '{"address":"0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}' \
        >/dev/null || die "join guild-bad"
    for i in 1 2 3 4 5 6; do
        ctl event send "{\"gameId\":\"$game\",\"userId\":\"guild-p$i\",\"eventType\":\"MATCH_END\",
          \"data\":{\"score\":$(((i * 37) % 50 + 50 - (i == 5 ? 13 : 0)))}}" >/dev/null ||
            die "event send"
    done
    ctl event send "{\"gameId\":\"$game\",\"userId\":\"guild-bad\",\"eventType\":\"MATCH_END\",
      \"data\":{\"score\":99}}" >/dev/null || die "event send"
    for ((i = 0; i < 100; i++)); do
        [[ $(psql_demo -c "SELECT count(*) FROM user_progress WHERE campaign_id = '$bid'") -ge 6 ]] &&
            break
        sleep 0.1
    done
    say "members, and who brought them:"
    ctl community show iron-guild | indent
    say "refused joins (community.events):"
    psql_demo -c "SELECT substring(payload from '\"reason\":\"[a-z_]*\"[^}]*') FROM outbox
                  WHERE topic = 'community.events' AND payload LIKE '%join_refused%'" | indent
    say "guild board (guild-bad scored 99 but is not a member):"
    ctl leaderboard "$bid" --limit 10 | indent
    say "waiting for the tournament to end and pay (end + 1 s grace + 3 s)..."
    for ((i = 0; i < 600; i++)); do
        [[ $(ctl tournament show "$tid" --json 2>/dev/null | jq -r .status) == paid ]] && break
        sleep 0.1
    done
    ctl tournament show "$tid" | indent
    say "prizes granted (reward_fulfillments, amounts in minor units, 2 decimals):"
    table "SELECT user_id, idempotency_key, reward_config->>'amount' AS amount, status
           FROM reward_fulfillments WHERE campaign_id = '$tid' ORDER BY idempotency_key"
}
