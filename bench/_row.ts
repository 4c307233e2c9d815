/** One line of the benchmark table. */
export interface Row {
  name: string;
  value: number;
  unit: string;
  note: string;
}
