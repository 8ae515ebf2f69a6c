package dev.matgto.client;

import java.util.List;
import java.util.Optional;

/**
 * A session's fault rules and the seed of its generator for probabilistic rules, as {@code
 * SetFaults} answered them.
 *
 * @param rules every rule of the session, with the ids the server gave them ("f1", ...), oldest
 *     first
 * @param seed the seed (an unsigned 64-bit value: {@link Long#toUnsignedString(long)} prints it);
 *     pass it to {@link Session#addFaults(long, Fault...)} to re-run a test with the same sequence
 */
public record Faults(List<Fault> rules, long seed) {
  public Faults {
    rules = List.copyOf(rules);
  }

  /** The rule with id {@code id}. */
  public Optional<Fault> byId(String id) {
    return rules.stream().filter(f -> f.id().equals(id)).findFirst();
  }

  /** The ids of the rules, oldest first. */
  public List<String> ids() {
    return rules.stream().map(Fault::id).toList();
  }

  @Override
  public String toString() {
    return "Faults[seed " + Long.toUnsignedString(seed) + ", " + rules + "]";
  }
}
